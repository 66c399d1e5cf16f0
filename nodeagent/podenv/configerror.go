package podenv

import (
	"errors"
	"fmt"
)

// ConfigError is a mistake in a pod's spec or in the objects it refers to
// that only its owner can fix: the container waits with reason
// CreateContainerConfigError and this message.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// ConfigErrorf returns a *ConfigError with the formatted message.
func ConfigErrorf(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// IsConfigError reports whether err is (or wraps) a *ConfigError, and its message.
func IsConfigError(err error) (string, bool) {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Msg, true
	}
	return "", false
}
