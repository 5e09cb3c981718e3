package ledger

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// Latest reads the ledger topic to its end (kafka.ReadToEnd) and returns
// the latest entry of each wanted user, keyed by kafka.LedgerKey; a wanted
// user with no entry is absent from the result. want nil keeps every user.
// A record that does not decode is skipped, a tombstone forgets the user:
// the ledger is compacted on the same key, so this is the state it will
// keep.
func Latest(ctx context.Context, cl *kgo.Client, topic string, want map[string]bool) (map[string]Entry, error) {
	out := map[string]Entry{}
	err := kafka.ReadToEnd(ctx, cl, []string{topic}, func(r *kgo.Record) error {
		k := string(r.Key)
		if want != nil && !want[k] {
			return nil
		}
		if r.Value == nil {
			delete(out, k)
			return nil
		}
		e, err := Decode(r.Value)
		if err != nil {
			return nil
		}
		out[k] = e
		return nil
	})
	return out, err
}
