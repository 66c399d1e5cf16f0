// Package sdnotify tells systemd about a service's state through the
// sd_notify protocol: one datagram of "KEY=VALUE" lines sent to the unix
// socket named by $NOTIFY_SOCKET, which systemd sets for Type=notify units.
// A path starting with "@" is an abstract socket. Without $NOTIFY_SOCKET
// (not started by systemd, or not Type=notify) sending does nothing.
//
//	n := sdnotify.FromEnv()
//	sent, err := n.Notify(sdnotify.Ready) // the service is up
//	defer n.Notify(sdnotify.Stopping)
package sdnotify
