package sender

import (
	"errors"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/pseudonym"
	"github.com/sendonce/sendonce/pkg/ses"
)

// send writes the SES request of es (one batch: same campaign, template,
// From and configuration set): SendEmail for one entry, SendBulkEmail for
// several. It returns each entry's message id or error; an error of the
// whole bulk call is every entry's error.
func (s *Sender) send(es []*entry) (ids []string, errs []error) {
	ids, errs = make([]string, len(es)), make([]error, len(es))
	if len(es) == 1 {
		ids[0], errs[0] = s.ses.Send(s.workCtx, s.message(es[0]))
		return ids, errs
	}
	first := es[0].j
	m := ses.BulkMessage{From: first.From, Template: first.Template, ConfigurationSet: first.ConfigurationSet, Entries: make([]ses.BulkEntry, len(es))}
	for i, e := range es {
		one := s.message(e)
		m.Entries[i] = ses.BulkEntry{To: one.To, TemplateData: one.TemplateData, Headers: one.Headers, Tags: one.Tags}
	}
	s.m.bulkCalls.Inc()
	res, err := s.ses.SendBulk(s.workCtx, m)
	for i := range es {
		switch {
		case err != nil:
			errs[i] = err
		case i < len(res):
			ids[i], errs[i] = res[i].MessageID, res[i].Err
		default:
			errs[i] = errShortBulkReply
		}
	}
	return ids, errs
}

// message is the SES request of e. Its tags name the campaign, the user (a
// keyed hash), the attempt (the fence token, which the fence keeps) and a
// sealed user reference that only `sender reconcile` can open: an SES event
// then names exactly one attempt of one user.
func (s *Sender) message(e *entry) ses.Message { return message(e.j, s.cfg.UserHashKey, e.tok) }

// message is the SES request of j for attempt (the fence token; "" for
// none); hashKey keys the user_hash tag and seals the user_ref tag.
func message(j *job.Job, hashKey []byte, attempt string) ses.Message {
	data := string(j.Data)
	if data == "" {
		data = "{}"
	}
	tags := map[string]string{"campaign": j.Campaign, "user_hash": pseudonym.UserHash(hashKey, j.UserID)}
	if attempt != "" {
		tags["attempt"] = attempt
	}
	if ref, err := pseudonym.SealUserRef(hashKey, userRef(j)); err == nil {
		tags["user_ref"] = ref
	}
	return ses.Message{
		From: j.From, To: j.Email, Template: j.Template, TemplateData: data,
		ConfigurationSet: j.ConfigurationSet, Headers: j.Headers, Tags: tags,
	}
}

// errShortBulkReply is the error of an entry SES's bulk reply left out.
var errShortBulkReply = errors.New("SendBulkEmail answered fewer results than entries: not sent")

// userRef is what the user_ref tag seals: the user id, and the campaign too
// when SES's tag charset would alter the campaign tag (a campaign id with a
// dot), so that `sender reconcile` still finds the fence key.
func userRef(j *job.Job) string {
	if ses.TagValue(j.Campaign) != j.Campaign {
		return j.Campaign + pseudonym.RefSeparator + j.UserID
	}
	return j.UserID
}
