// Package archrules states bosun's dependency rules as data and checks them
// against the import graph that `go list -deps` reports. ARCHITECTURE.md
// explains each rule; the test in this package fails when a change breaks
// one, naming the importing package and the chain that pulls the forbidden
// one in.
//
//	graph, err := archrules.Load(ctx, "..")   // the module's root
//	for _, v := range archrules.Check(graph, archrules.Rules()) { ... }
package archrules
