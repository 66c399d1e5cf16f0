// Package defaults fills configuration fields left unset with their defaults,
// so that a constructor states each default in one line:
//
//	defaults.Logger(&cfg.Logger)
//	defaults.Clock(&cfg.Clock)
//	defaults.Positive(&cfg.Workers, DefaultWorkers)
package defaults

import (
	"log/slog"

	"k8s.io/utils/clock"
)

// Number is the kinds of configuration field Positive fills: counts, sizes,
// rates and time.Duration.
type Number interface {
	~int | ~int32 | ~int64 | ~float32 | ~float64
}

// Positive sets *v to def unless *v is greater than zero: zero means "unset"
// and a negative value is not a usable count, size or period.
func Positive[T Number](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Logger sets *l to a logger that discards everything when it is nil.
func Logger(l **slog.Logger) {
	if *l == nil {
		*l = slog.New(slog.DiscardHandler)
	}
}

// Clock sets *c to clock.RealClock{} when it is nil. C is the interface of
// the field (clock.Clock, clock.WithTicker, ...), which RealClock implements.
func Clock[C clock.PassiveClock](c *C) {
	if any(*c) == nil {
		*c = any(clock.RealClock{}).(C)
	}
}
