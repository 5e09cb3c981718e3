package job

import (
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record builds the Kafka record of a job for topic, with the campaign and
// attempt headers set.
func Record(topic string, j *Job) (*kgo.Record, error) {
	v, userAt, err := j.encode()
	if err != nil {
		return nil, err
	}
	// The key is the user id, which the value holds as it is (unless it
	// needed escaping): share those bytes instead of copying them; neither
	// is written to once the record is built.
	var key []byte
	if userAt >= 0 {
		key = v[userAt : userAt+len(j.UserID) : userAt+len(j.UserID)]
	} else {
		key = j.Key()
	}
	// One allocation for the record and its two headers (what SetHeader
	// twice on an empty record gives, without growing the slice twice).
	rh := &struct {
		r kgo.Record
		h [2]kgo.RecordHeader
	}{}
	rh.h = [2]kgo.RecordHeader{
		{Key: HeaderCampaign, Value: campaignValue(j.Campaign)},
		{Key: HeaderAttempt, Value: attemptValue(j.Attempt)},
	}
	r := &rh.r
	r.Topic, r.Key, r.Value = topic, key, v
	r.Headers = rh.h[:]
	return r, nil
}

// attempts holds the attempt header values of the first attempts; nothing
// writes into a header value in place (SetHeader replaces the slice), and
// an append to one copies it (no spare capacity).
var attempts = func() (a [16][]byte) {
	for i := range a {
		a[i] = slices.Clip([]byte(strconv.Itoa(i)))
	}
	return a
}()

func attemptValue(n int) []byte {
	if n >= 0 && n < len(attempts) {
		return attempts[n]
	}
	return []byte(strconv.Itoa(n))
}

// lastCampaign is the campaign header value of the last record built: a
// producer run, and most of a sender's records, are of one campaign, and a
// header value is never written to in place, so records share it.
var lastCampaign atomic.Pointer[campaignBytes]

type campaignBytes struct {
	s string
	b []byte
}

func campaignValue(c string) []byte {
	if p := lastCampaign.Load(); p != nil && p.s == c {
		return p.b
	}
	p := &campaignBytes{s: c, b: slices.Clip([]byte(c))}
	lastCampaign.Store(p)
	return p.b
}
