package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// States that bosun sends (see sd_notify(3)).
const (
	// Ready says that start-up finished: systemctl start returns, and
	// units ordered after this one start.
	Ready = "READY=1"
	// Stopping says that the service is shutting down.
	Stopping = "STOPPING=1"
)

// EnvSocket is the environment variable systemd passes the socket in.
const EnvSocket = "NOTIFY_SOCKET"

// Notifier sends states to one notification socket.
type Notifier struct {
	// Socket is the socket's path, "@name" for an abstract one; "" makes
	// Notify do nothing.
	Socket string
}

// FromEnv returns the Notifier for $NOTIFY_SOCKET.
func FromEnv() Notifier { return Notifier{Socket: os.Getenv(EnvSocket)} }

// Enabled reports whether Notify sends anything.
func (n Notifier) Enabled() bool { return n.Socket != "" }

// Notify sends the states (e.g. Ready) in one datagram. It returns false
// and no error when there is no socket to send to, and an error naming the
// socket when sending failed.
func (n Notifier) Notify(states ...string) (bool, error) {
	if n.Socket == "" {
		return false, nil
	}
	// Go's net package reads a leading "@" as an abstract socket, as
	// systemd writes it.
	addr := &net.UnixAddr{Name: n.Socket, Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, fmt.Errorf("sdnotify: %s: %w", n.Socket, err)
	}
	defer conn.Close()
	msg := strings.Join(states, "\n")
	if _, err := conn.Write([]byte(msg)); err != nil {
		return false, fmt.Errorf("sdnotify: %s: send %q: %w", n.Socket, msg, err)
	}
	return true, nil
}
