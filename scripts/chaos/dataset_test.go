package chaos

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/source"
)

// dataset is the CSV of one run and what the verdict expects of each row.
type dataset struct {
	csv    []byte
	domain string
	// valid maps each user id the producer must publish to its address
	// (first row of the user wins); it includes the rejected recipients.
	valid map[string]string
	// rejected are the valid users whose address the proxy rejects for
	// good (local part "reject-…"): no email, ledger failed or
	// dead_lettered.
	rejected map[string]bool
	// invalid is how many rows the producer must reject as invalid, by
	// the reason it should give; duplicates the rows repeating a user id
	// (as many again, reason duplicate_user).
	invalid    map[producer.Reason]int
	duplicates int
	// rows is the number of data rows.
	rows int
}

// rejectPrefix marks a permanently rejected recipient.
const rejectPrefix = "reject-"

func isRejected(addr string) bool { return strings.HasPrefix(addr, rejectPrefix) }

// invalidShapes are the invalid rows, each with the reason the producer
// must give. Several hold an address of the run's domain, so that a row
// published by mistake shows up in the emulator's store as an unexpected
// recipient.
var invalidShapes = []struct {
	reason producer.Reason
	row    func(i int, domain string) []string // nil: written raw, see rawRow
}{
	{producer.ReasonMissingUserID, func(i int, d string) []string { return []string{"", fmt.Sprintf("inv-%d@%s", i, d), "Nobody", "1"} }},
	{producer.ReasonMissingEmail, func(i int, d string) []string { return []string{fmt.Sprintf("inv-%d", i), "", "No Mail", "2"} }},
	{producer.ReasonInvalidEmail, func(i int, d string) []string {
		return []string{fmt.Sprintf("inv-%d", i), fmt.Sprintf("inv-%d.at.%s", i, d), "No At", "3"}
	}},
	{producer.ReasonInvalidEmail, func(i int, d string) []string {
		return []string{fmt.Sprintf("inv-%d", i), fmt.Sprintf("Inv %d <inv-%d@%s>", i, i, d), "Display Name", "4"}
	}},
	{producer.ReasonInvalidEmail, func(i int, d string) []string {
		return []string{fmt.Sprintf("inv-%d", i), fmt.Sprintf("inv-%d@%s, inv-%d-b@%s", i, d, i, d), "Two Addresses", "5"}
	}},
	{producer.ReasonMalformedRow, func(i int, d string) []string {
		return []string{fmt.Sprintf("inv-%d", i), fmt.Sprintf("inv-%d@%s", i, d), "Ragged"}
	}},
	{producer.ReasonUserIDTooLong, func(i int, d string) []string {
		return []string{fmt.Sprintf("inv-%d-", i) + strings.Repeat("x", producer.MaxUserIDBytes), fmt.Sprintf("inv-%d@%s", i, d), "Long Id", "7"}
	}},
	{producer.ReasonEmailTooLong, func(i int, d string) []string {
		return []string{fmt.Sprintf("inv-%d", i), strings.Repeat("e", producer.MaxEmailChars) + fmt.Sprintf("%d@%s", i, d), "Long Mail", "8"}
	}},
	{producer.ReasonMalformedRow, nil}, // a bare quote: a CSV syntax error in one row
}

func rawRow(i int, domain string) string {
	return fmt.Sprintf("inv-%d,inv-%d\"x@%s,Bare Quote,9\n", i, i, domain)
}

// names exercise CSV quoting and non-ASCII template data.
var names = []string{"Ann", "Zoë Ørsted", "O'Brien, \"Jr\"", "李雷", "Jean-Luc", "Émile\nNewline"}

// newDataset builds n distinct valid users (about 1% of them rejected
// recipients), about 2% invalid rows of every shape and about 1% duplicate
// rows (half exact copies, half the same id with another address, which
// must get nothing), in a shuffled order where a duplicate always follows
// the row it repeats.
func newDataset(n int, domain string, seed uint64) *dataset {
	rng := rand.New(rand.NewPCG(seed, seed^0xc4a05))
	d := &dataset{domain: domain, valid: map[string]string{}, rejected: map[string]bool{}, invalid: map[producer.Reason]int{}}
	type entry struct {
		key float64
		row []string
		raw string
	}
	var entries []entry
	for i := range n {
		id := fmt.Sprintf("u%07d", i)
		addr := fmt.Sprintf("%s@%s", id, domain)
		if rng.IntN(100) == 0 {
			addr = rejectPrefix + addr
			d.rejected[id] = true
		}
		d.valid[id] = addr
		row := []string{id, addr, names[i%len(names)], fmt.Sprintf("%d.%d", rng.IntN(900)+10, rng.IntN(10))}
		entries = append(entries, entry{key: float64(i), row: row})
	}
	nInvalid := max(len(invalidShapes), n/50)
	for i := range nInvalid {
		s := invalidShapes[i%len(invalidShapes)]
		e := entry{key: rng.Float64() * float64(n)}
		if s.row == nil {
			e.raw = rawRow(i, domain)
		} else {
			e.row = s.row(i, domain)
		}
		d.invalid[s.reason]++
		entries = append(entries, e)
	}
	nDup := max(2, n/100)
	for i := range nDup {
		orig := rng.IntN(n)
		row := append([]string(nil), entries[orig].row...)
		if i%2 == 1 {
			row[1] = "dup-" + row[1]
		}
		// After the original, anywhere up to the end.
		entries = append(entries, entry{key: float64(orig) + 0.5 + rng.Float64()*float64(n-orig), row: row})
	}
	d.duplicates = nDup
	sort.SliceStable(entries, func(a, b int) bool { return entries[a].key < entries[b].key })

	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"user_id", "email", "name", "kwh"})
	for _, e := range entries {
		if e.raw != "" {
			w.Flush()
			buf.WriteString(e.raw)
			continue
		}
		_ = w.Write(e.row)
	}
	w.Flush()
	d.csv = buf.Bytes()
	d.rows = len(entries)
	return d
}

// rejects is how many rows the producer must reject in all.
func (d *dataset) rejects() int {
	total := d.duplicates
	for _, n := range d.invalid {
		total += n
	}
	return total
}

// TestDatasetMatchesValidation checks the generator against the producer's
// own row validation and the CSV source: every row is judged as the
// dataset expects, so that the chaos verdict's expectations are right.
func TestDatasetMatchesValidation(t *testing.T) {
	d := newDataset(2000, "ds.chaos.test", 7)
	rd, err := source.NewCSV(bytes.NewReader(d.csv))
	require.NoError(t, err)
	seen := map[string]bool{}
	got := map[producer.Reason]int{}
	published := map[string]string{}
	rows := 0
	for {
		row, err := rd.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		rows++
		reason, _ := producer.CheckRow(&row)
		if reason == "" && seen[row.UserID] {
			reason = producer.ReasonDuplicateUser
		}
		if reason != "" {
			got[reason]++
			continue
		}
		seen[row.UserID] = true
		published[row.UserID] = row.Email
	}
	require.Equal(t, d.rows, rows)
	require.Equal(t, len(d.valid), len(published), "published users")
	for id, addr := range d.valid {
		require.Equal(t, addr, published[id], "address of %s", id)
	}
	want := map[producer.Reason]int{producer.ReasonDuplicateUser: d.duplicates}
	for r, n := range d.invalid {
		want[r] += n
	}
	require.Equal(t, want, got)
	require.Equal(t, d.rejects(), d.rows-len(d.valid))
	require.NotEmpty(t, d.rejected)
	for id := range d.rejected {
		require.True(t, isRejected(d.valid[id]))
	}
}
