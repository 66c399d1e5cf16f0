// Package audit writes bosun's audit log: one JSON object per line for
// every API write or refusal and every sync, rollback and change of the
// sync's controls, in the vocabulary of Kubernetes' audit.k8s.io/v1 Event
// (auditID, stage, verb, user, sourceIPs, objectRef, responseStatus,
// timestamps) plus bosun's own fields for sync events (commit, result,
// message).
//
// # Delivery
//
// Log encodes the event in the caller's goroutine and hands the line to
// one writer goroutine through a buffer of Config.Buffer lines. When the
// buffer is full (the disk stalls), Log waits at most Config.BlockTimeout
// for room and then drops the event: callers are never held longer than
// that, and Dropped counts what was lost (a warning is logged the first
// time and after every further 1,000 drops). Events written but not yet
// flushed reach the file on Close, which waits for the writer.
//
// # Rotation
//
// With Config.MaxSizeMB > 0 a line that would take the file past that size
// first rotates it, as kube-apiserver's --audit-log-maxsize does: PATH.1
// becomes PATH.2 and so on, PATH becomes PATH.1, and files beyond
// Config.MaxBackups are removed (0 keeps every old file). Files are
// created with mode 0600. The path "-" writes to standard output and never
// rotates.
//
// A nil *Logger logs nothing, so callers need no checks:
//
//	l, err := audit.New(audit.Config{Path: "/var/log/bosun/audit.log", MaxSizeMB: 100, MaxBackups: 5})
//	if err != nil { ... }
//	defer l.Close()
//	l.Log(ctx, audit.RequestEvent(req, start, audit.UserInfo{Username: "alice"}, "create",
//		audit.ObjectRef{Resource: "configmaps", Namespace: "default", Name: "web", APIVersion: "v1"},
//		audit.ResponseStatus{Code: 201}))
package audit
