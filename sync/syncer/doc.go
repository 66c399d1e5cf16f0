// Package syncer runs the sync loop: it watches a Git branch, and for each
// new commit decodes and validates the whole tree and either applies it as
// the desired state (package apply) or rejects it whole, recording why.
//
// The loop is level-triggered. A tick of --interval, a webhook, or a
// change to a local repository's refs only say "look again": the syncer
// then compares the branch head with the last commit it handled. A commit
// with any invalid manifest changes nothing; the last good commit keeps
// running and the status lists every problem with file and line. When Git
// or etcd cannot be reached, the syncer keeps what it has, records the
// failure in the status and retries with exponential backoff.
//
// Validation sees the cluster: before a commit is validated the syncer
// lists the live Namespaces and the Services sync did not write, and passes
// them with Config.ServiceCIDRs as manifests.Options.Live and ServiceCIDRs.
// A commit using a clusterIP or nodePort of such a Service, a clusterIP
// outside the service CIDR, or a namespace that neither it nor the cluster
// has is rejected whole, naming file and line. With Config.CreateNamespaces
// (--create-namespaces) the missing namespaces are created instead, just
// before the commit is applied, as plain Namespaces without sync's label:
// pruning never deletes them.
//
// With Config.VerifySignatures (--verify-signatures KEYRING) every commit's
// OpenPGP signature is checked before anything of it is decoded: an
// unsigned commit, one signed by a key outside the keyring, or one whose
// signature does not verify is rejected whole, like an invalid one. Each
// attempt's CommitInfo records the outcome (Signature: "good signature from
// ...", "unsigned", "signed by unknown key ...") and, when good, SignedBy.
//
// # One server syncs
//
// Servers sharing an etcd elect one sync leader (election ElectionName,
// DESIGN.md decision 9): cmd/bosun runs RunFenced under
// leader.RunFenced, so only the leader fetches and applies, and every write
// of its term (the commit's transaction, the status and history records)
// carries the term's store.Fence. A leader paused past its lease cannot
// apply anything when it wakes: etcd refuses the transaction
// (store.ErrFenced) and RunFenced returns. A new leader starts with a full
// sync of the branch head at once. Standbys serve the API; their Ready
// reports the status the leader recorded.
//
// A webhook may reach any server. Its handler calls RemoteTrigger's
// function, which puts TriggerKey in etcd; the leader's RunFenced watches
// that key and calls Trigger on each put, so the push is synced at once
// whichever server received it.
//
//	hooks := webhook.Handler(secret, syncer.RemoteTrigger(st.Client(), serverName, log), log)
//
//	s := syncer.New(syncer.Config{Source: src, Store: st, Interval: 30 * time.Second})
//	go src.Watch(ctx, s.Trigger) // local repositories: sync at once
//	err := leader.RunFenced(ctx, st.Client(), syncer.ElectionName, leader.DefaultID(), syncer.LeaseTTL, log, s.RunFenced)
//
//	err := s.Run(ctx) // a single server, no election: writes carry no fence
package syncer
