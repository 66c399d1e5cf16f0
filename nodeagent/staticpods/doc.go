// Package staticpods reads static pods from a directory (the agent's
// --pod-manifest-path), as kubelet's file source does.
//
// Every file named *.yaml, *.yml or *.json (dotfiles and subdirectories
// are ignored) is decoded strictly and validated with package manifests;
// it must hold only Pods. Each pod becomes node's static pod (Prepare): its
// name gets the suffix "-<node>", its namespace defaults to "default", its
// spec.nodeName is the node, and its UID is a hash of its content and the
// node, so an edited file gives a new pod (the agent replaces the old one)
// and an unchanged one keeps its UID across agent restarts. The
// annotations kubernetes.io/config.source=file and
// kubernetes.io/config.hash=<hash> mark it. Mirror builds the pod the
// agent shows in the API for it (annotation kubernetes.io/config.mirror).
//
// Source watches the directory (not the files: editors replace files by
// renaming) with fsnotify, waits Config.Debounce (100ms) after an event for
// more, then reads the whole directory again; it also rereads it every
// Config.Rescan (20s) as a safety net, which is also how a directory
// created later is picked up. It hands the agent the complete set of
// static pods each time it changed. A file that cannot be used is logged
// once per distinct error (and reported to Config.OnError); the other
// files are unaffected, and the pods of the file's last good version keep
// running until the file is fixed or removed. When two files define a pod
// of the same name, the first file by name wins and the other is reported.
//
// Usage:
//
//	src, err := staticpods.New(staticpods.Config{Dir: "/etc/bosun/manifests", NodeName: "node-1", Logger: log})
//	if err != nil {
//		return err
//	}
//	go src.Run(ctx, func(pods []*corev1.Pod) { /* the new set of static pods */ })
package staticpods
