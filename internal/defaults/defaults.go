// Package defaults fills configuration fields left unset with their defaults,
// so that a constructor states each default in one line:
//
//	defaults.Positive(&cfg.Workers, DefaultWorkers)
//	defaults.Positive(&cfg.ResyncPeriod, DefaultResyncPeriod)
package defaults

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
