package job

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record builds the Kafka record of a job for topic, with the campaign and
// attempt headers set.
func Record(topic string, j *Job) (*kgo.Record, error) {
	v, err := j.Encode()
	if err != nil {
		return nil, err
	}
	r := &kgo.Record{Topic: topic, Key: j.Key(), Value: v}
	SetHeader(r, HeaderCampaign, j.Campaign)
	SetHeader(r, HeaderAttempt, fmt.Sprint(j.Attempt))
	return r, nil
}
