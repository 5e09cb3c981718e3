package demo

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Reject reasons the generated rows are meant to trigger, spelled as
// pkg/producer spells them.
const (
	wantMissingUserID = "missing_user_id"
	wantUserIDTooLong = "user_id_too_long"
	wantInvalidEmail  = "invalid_email"
	wantDuplicateUser = "duplicate_user"
)

// population is what the generated CSV holds and what a correct run must do
// with it: one email to each valid address, none to a forbidden one.
type population struct {
	Rows int
	// Valid maps each address that must receive exactly one email to its
	// user id: the first row of every user id that passes validation.
	Valid map[string]string
	// Forbidden holds the addresses of rejected rows (invalid ones and later
	// duplicates of a user id), which must receive nothing.
	Forbidden map[string]bool
	// Rejects counts the rows by the reason the producer should give.
	Rejects map[string]int
}

// DuplicateRows is how many rows repeat an earlier user id.
func (p *population) DuplicateRows() int { return p.Rejects[wantDuplicateUser] }

type userRow struct {
	id, email, name, device, kwh string
}

var (
	firstNames = []string{"Ada", "Bruno", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Inès", "Jonas", "Kwame", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoltan"}
	lastNames  = []string{"Moreau", "Silva", "Novak", "Okafor", "Lindqvist", "Haddad", "Kowalski", "Tanaka", "Dubois", "Rossi", "Mensah", "Fischer", "García", "Iyer", "Nakamura", "Petrov", "Costa", "Jensen", "Brennan", "Adeyemi"}
	domains    = []string{"example.com", "example.org", "example.net"}
	// devices and the range of their monthly kWh.
	devices = []struct {
		name     string
		min, max float64
	}{
		{"heat pump", 180, 900}, {"EV charger", 120, 650}, {"water heater", 90, 320},
		{"air conditioner", 60, 480}, {"washing machine", 10, 45}, {"dishwasher", 12, 40},
		{"fridge", 25, 60}, {"electric oven", 15, 70},
	}
)

// generate writes a CSV of rows rows to w (header user_id, email, name,
// device, kwh, month), the same for the same seed. A few rows are invalid
// (empty user id, too-long user id, malformed address, an address with a
// display name) and a few repeat an earlier user id with another address.
func generate(w io.Writer, rows int, seed uint64, month string) (*population, error) {
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed0ce))
	nInvalid := max(4, rows/500)
	nDup := max(2, rows/1000)
	if rows < nInvalid+nDup+1 {
		return nil, fmt.Errorf("--users must be at least %d (got %d)", nInvalid+nDup+1, rows)
	}
	nValid := rows - nInvalid - nDup

	p := &population{Rows: rows, Valid: make(map[string]string, nValid), Forbidden: map[string]bool{}, Rejects: map[string]int{}}
	out := make([]userRow, 0, rows)
	for i := range nValid {
		u := person(rnd, i)
		p.Valid[u.email] = u.id
		out = append(out, u)
	}
	insert := func(at int, u userRow) {
		out = append(out, userRow{})
		copy(out[at+1:], out[at:])
		out[at] = u
	}
	for k := range nInvalid {
		u := person(rnd, nValid+k)
		switch k % 4 {
		case 0:
			u.id = ""
			u.email = "noid." + u.email
			p.Rejects[wantMissingUserID]++
		case 1:
			u.id = "u-" + strings.Repeat(strconv.Itoa(k%10), 300)
			u.email = "longid." + u.email
			p.Rejects[wantUserIDTooLong]++
		case 2:
			u.email = strings.Replace(u.email, "@", ".at.", 1)
			p.Rejects[wantInvalidEmail]++
		case 3:
			u.email = "named." + u.email
			p.Forbidden[u.email] = true
			u.email = u.name + " <" + u.email + ">"
			p.Rejects[wantInvalidEmail]++
		}
		p.Forbidden[u.email] = true
		insert(rnd.IntN(len(out)+1), u)
	}
	for k := range nDup {
		// A later row for an existing user, with another address: the
		// first row wins, so this address must get nothing.
		at := rnd.IntN(len(out) / 2)
		for out[at].id == "" || !p.isValid(out[at]) {
			at++
		}
		u := person(rnd, nValid+nInvalid+k)
		u.id = out[at].id
		u.email = "moved." + u.email
		p.Forbidden[u.email] = true
		p.Rejects[wantDuplicateUser]++
		insert(at+1+rnd.IntN(len(out)-at), u)
	}

	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"user_id", "email", "name", "device", "kwh", "month"}); err != nil {
		return nil, fmt.Errorf("writing the sample CSV: %w", err)
	}
	for _, u := range out {
		if err := cw.Write([]string{u.id, u.email, u.name, u.device, u.kwh, month}); err != nil {
			return nil, fmt.Errorf("writing the sample CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, fmt.Errorf("writing the sample CSV: %w", err)
	}
	return p, nil
}

func (p *population) isValid(u userRow) bool { return p.Valid[u.email] == u.id }

// person makes the i-th user: a unique id and address, a name, a device and
// last month's consumption.
func person(rnd *rand.Rand, i int) userRow {
	first := firstNames[rnd.IntN(len(firstNames))]
	last := lastNames[rnd.IntN(len(lastNames))]
	d := devices[rnd.IntN(len(devices))]
	kwh := d.min + rnd.Float64()*(d.max-d.min)
	local := strings.ToLower(ascii(first) + "." + ascii(last))
	return userRow{
		id:     fmt.Sprintf("u-%06d", i+1),
		email:  fmt.Sprintf("%s.%d@%s", local, i+1, domains[rnd.IntN(len(domains))]),
		name:   first + " " + last,
		device: d.name,
		kwh:    strconv.FormatFloat(kwh, 'f', 1, 64),
	}
}

// ascii folds the few accented letters of the name lists for addresses.
func ascii(s string) string {
	return strings.NewReplacer("é", "e", "è", "e", "í", "i", "ç", "c", "ñ", "n", "É", "E").Replace(s)
}
