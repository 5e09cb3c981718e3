package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerdictSaysByHowMuch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ok        bool
		miss, out string
	}{
		{"met", true, pctOver(25, 25), "PASS"},
		{"narrow miss keeps a decimal", false, pctOver(25.1, 25), "MISS (+0.4%)"},
		{"wide miss is rounded", false, pctOver(74, 60), "MISS (+23%)"},
		{"under", false, pctUnder(9_500, 10_000), "MISS (-5.0%)"},
		{"no amount", false, "", "MISS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.out, verdict(tc.ok, tc.miss))
		})
	}
}

func TestBatchList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"50,1", []int{50, 1}},
		{" 1 , 50 ", []int{1, 50}},
		{"0", nil},
		{"51", nil},
		{"50,x", nil},
	} {
		got, err := options{batchSizes: tc.in}.batchList()
		if tc.want == nil {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestConcurrencyForThePath(t *testing.T) {
	o := options{concurrency: 256, batchConc: 64}
	require.Equal(t, 256, o.concurrencyFor(1))
	require.Equal(t, 64, o.concurrencyFor(50))
}

func TestRawForPicksTheBaselineOfThePath(t *testing.T) {
	r := results{Raw: []rawResult{{Concurrency: 256}, {Concurrency: 512}, {Concurrency: 128, Bulk: 50}}}
	require.Equal(t, 512, r.rawFor(false, 512).Concurrency)
	require.Equal(t, 50, r.rawFor(true, 0).Bulk)
	require.Nil(t, r.rawFor(false, 64))
}

func TestCommandsBetween(t *testing.T) {
	a := map[string]cmdStat{"evalsha": {Calls: 10, Usec: 1000}, "hget": {Calls: 5, Usec: 50}}
	z := map[string]cmdStat{"evalsha": {Calls: 30, Usec: 5000}, "hget": {Calls: 5, Usec: 50}, "hset": {Calls: 60, Usec: 120}}
	got := commandsBetween(a, z)
	require.Equal(t, []namedStat{{"evalsha", cmdStat{20, 4000}}, {"hset", cmdStat{60, 120}}}, got, "busiest first; a command not called in between is left out")
}

func TestInfoFloat(t *testing.T) {
	info := "# CPU\r\nused_cpu_sys:24.879420\r\nused_cpu_user:61.096430\r\n"
	v, err := infoFloat(info, "used_cpu_user")
	require.NoError(t, err)
	require.InDelta(t, 61.09643, v, 1e-9)
	_, err = infoFloat(info, "used_cpu_sys_children")
	require.Error(t, err)
}
