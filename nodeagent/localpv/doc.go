// Package localpv removes the directories of deleted local persistent
// volumes from a node.
//
// bosun's node-local provisioner gives each PersistentVolume a directory
// <agent RootDir>/volumes/<pv name> on its node (the agent creates it when
// a pod first mounts the claim). When the claim is deleted and the reclaim
// policy is Delete, the volumebinding controller deletes the PV object; a
// Collector on each node then removes every directory under its volume
// directory that no PersistentVolume names (by name or by path) and that
// no pod on the node uses, and logs one line per removal. It runs every
// Interval and, when Config.Deletions is set, soon after each PV deletion.
//
//	src, err := localpv.APISource(apiClient)
//	c := localpv.New(localpv.Config{Dir: vols.LocalVolumeDir(), Volumes: src, Deletions: src,
//		InUse: vols.ClaimedPaths, Logger: log})
//	go c.Run(ctx)
package localpv
