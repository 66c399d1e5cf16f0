package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// FormatKey is the etcd key of the store's format version: a decimal
// number, written when a server starts on an empty store and raised by
// each migration. A store with keys but without FormatKey was written by
// a release before the format was versioned: format 0.
const FormatKey = "/bosun/meta/format"

// FormatVersion is the newest store format this binary reads and writes.
// A change of the key layout or of a stored value's shape raises it by
// one and adds the Migration from the previous format to Migrations.
const FormatVersion = 1

// ErrNewerFormat is the error EnsureFormat wraps when the store was
// written by a newer bosun than this one: its format is above
// FormatVersion. The server refuses to start on it.
var ErrNewerFormat = errors.New("the data dir was written by a newer bosun")

// Migration brings a store from format From to From+1. Apply must be
// idempotent: a server that crashes after Apply and before the new format
// is recorded runs it again at its next start, and servers starting
// together may run it at the same time.
type Migration struct {
	// From is the format the migration starts from.
	From int
	// Name says what the migration does, for the log.
	Name string
	// Apply changes the layout; nil when the layout did not change and
	// only the format number is recorded.
	Apply func(ctx context.Context, c *clientv3.Client) error
}

// Migrations lists the migrations from every older format up to
// FormatVersion, one per format, in order.
var Migrations = []Migration{
	{From: 0, Name: "record the store format: format 0 (the releases before versioning) has format 1's layout"},
}

// FormatReport says what EnsureFormat found and did.
type FormatReport struct {
	// Found is the format the store had: 0 for a store written before
	// the format was versioned, FormatVersion for an empty one.
	Found int
	// Format is the format the store has now.
	Format int
	// Initialized is true when the store was empty and EnsureFormat
	// recorded the current format in it.
	Initialized bool
	// Applied names the migrations run, in order.
	Applied []string
}

// EnsureFormat makes the store's format FormatVersion: on an empty store
// it records it; on an older store it runs Migrations from the stored
// format on, recording each step's format after it; on a store of a newer
// format it returns an error wrapping ErrNewerFormat and changes nothing.
// A server calls it once after connecting, before anything else reads the
// store.
func EnsureFormat(ctx context.Context, c *clientv3.Client, logger *slog.Logger) (FormatReport, error) {
	defaults.Logger(&logger)
	return ensureFormat(ctx, c, FormatVersion, Migrations, logger)
}

// ensureFormat is EnsureFormat with the target format and the migrations
// as arguments, so that tests can add a real layout change.
func ensureFormat(ctx context.Context, c *clientv3.Client, target int, migrations []Migration, logger *slog.Logger) (FormatReport, error) {
	found, stored, err := readFormat(ctx, c)
	if err != nil {
		return FormatReport{}, err
	}
	if !stored {
		empty, err := isEmpty(ctx, c)
		if err != nil {
			return FormatReport{}, err
		}
		if empty {
			return initFormat(ctx, c, target, migrations, logger)
		}
	}
	rep := FormatReport{Found: found, Format: found}
	for rep.Format < target {
		m, err := migrationFrom(migrations, rep.Format)
		if err != nil {
			return rep, err
		}
		if err := applyMigration(ctx, c, m); err != nil {
			return rep, err
		}
		rep.Applied = append(rep.Applied, m.Name)
		if rep.Format, err = readFormatAfter(ctx, c); err != nil {
			return rep, err
		}
		logger.Info("migrated the store's format", "from", m.From, "to", rep.Format, "migration", m.Name)
	}
	if rep.Format > target { // a newer server migrated it meanwhile
		return rep, fmt.Errorf("store: %w (store format %d at %s; this binary knows up to %d): upgrade this binary or restore a backup",
			ErrNewerFormat, rep.Format, FormatKey, target)
	}
	return rep, nil
}

// initFormat records target on an empty store. Another server may have
// written the store meanwhile: then the stored format is migrated as any.
func initFormat(ctx context.Context, c *clientv3.Client, target int, migrations []Migration, logger *slog.Logger) (FormatReport, error) {
	resp, err := c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(FormatKey), "=", 0)).
		Then(clientv3.OpPut(FormatKey, strconv.Itoa(target))).
		Commit()
	if err != nil {
		return FormatReport{}, mapErr("record the store format at "+FormatKey, err)
	}
	if !resp.Succeeded {
		return ensureFormat(ctx, c, target, migrations, logger)
	}
	logger.Info("recorded the store format of a new store", "format", target, "key", FormatKey)
	return FormatReport{Found: target, Format: target, Initialized: true}, nil
}

// migrationFrom returns the migration starting at format from.
func migrationFrom(migrations []Migration, from int) (Migration, error) {
	for _, m := range migrations {
		if m.From == from {
			return m, nil
		}
	}
	return Migration{}, fmt.Errorf("store: no migration from store format %d (at %s): this binary cannot read the store; upgrade through the release before it", from, FormatKey)
}

// applyMigration runs m and then records m.From+1, unless another server
// recorded a format meanwhile (its migration ran: m is idempotent).
func applyMigration(ctx context.Context, c *clientv3.Client, m Migration) error {
	if m.Apply != nil {
		if err := m.Apply(ctx, c); err != nil {
			return fmt.Errorf("store: migration of the store format %d to %d (%s): %w", m.From, m.From+1, m.Name, err)
		}
	}
	cond := clientv3.Compare(clientv3.Value(FormatKey), "=", strconv.Itoa(m.From))
	if m.From == 0 {
		cond = clientv3.Compare(clientv3.CreateRevision(FormatKey), "=", 0)
	}
	if _, err := c.Txn(ctx).If(cond).Then(clientv3.OpPut(FormatKey, strconv.Itoa(m.From+1))).Commit(); err != nil {
		return mapErr(fmt.Sprintf("record the store format %d at %s", m.From+1, FormatKey), err)
	}
	return nil
}

// readFormatAfter reads the format a migration step left.
func readFormatAfter(ctx context.Context, c *clientv3.Client) (int, error) {
	f, stored, err := readFormat(ctx, c)
	if err != nil {
		return 0, err
	}
	if !stored {
		return 0, fmt.Errorf("store: the store format at %s is gone after a migration recorded it", FormatKey)
	}
	return f, nil
}

// readFormat returns the format stored at FormatKey, and whether there is
// one (0 when not).
func readFormat(ctx context.Context, c *clientv3.Client) (int, bool, error) {
	resp, err := c.Get(ctx, FormatKey)
	if err != nil {
		return 0, false, mapErr("read the store format at "+FormatKey, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	v := string(resp.Kvs[0].Value)
	f, err := strconv.Atoi(v)
	if err != nil || f < 0 {
		return 0, false, fmt.Errorf("store: the store format at %s is %q, not a format number: restore a backup of the data dir", FormatKey, v)
	}
	return f, true, nil
}

// isEmpty reports whether the store holds no key at all.
func isEmpty(ctx context.Context, c *clientv3.Client) (bool, error) {
	resp, err := c.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		return false, mapErr("count the store's keys", err)
	}
	return resp.Count == 0, nil
}
