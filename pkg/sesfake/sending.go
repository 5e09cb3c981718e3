package sesfake

import (
	"net/http"
	"sync"
)

// sending holds what the fake answers about configuration sets and
// identities: GetConfigurationSet's SendingOptions.SendingEnabled and
// GetEmailIdentity's VerifiedForSendingStatus. Unknown names are enabled
// and verified.
type sending struct {
	mu         sync.Mutex
	configSets map[string]bool
	identities map[string]bool
	max24      float64 // overrides Config.Max24HourSend when > 0
}

// SetMax24HourSend changes the daily quota GetAccount reports.
func (s *Server) SetMax24HourSend(n float64) {
	s.sending.mu.Lock()
	defer s.sending.mu.Unlock()
	s.sending.max24 = n
}

func (s *Server) max24HourSend() float64 {
	s.sending.mu.Lock()
	defer s.sending.mu.Unlock()
	if s.sending.max24 > 0 {
		return s.sending.max24
	}
	return s.cfg.Max24HourSend
}

// SetConfigurationSetSending sets what GetConfigurationSet reports for
// name's SendingOptions.SendingEnabled. It does not change what SendEmail
// answers: pair it with a Fault (ConfigurationSetPaused).
func (s *Server) SetConfigurationSetSending(name string, enabled bool) {
	s.sending.mu.Lock()
	defer s.sending.mu.Unlock()
	if s.sending.configSets == nil {
		s.sending.configSets = map[string]bool{}
	}
	s.sending.configSets[name] = enabled
}

// SetIdentitySending sets what GetEmailIdentity reports for identity's
// VerifiedForSendingStatus.
func (s *Server) SetIdentitySending(identity string, verified bool) {
	s.sending.mu.Lock()
	defer s.sending.mu.Unlock()
	if s.sending.identities == nil {
		s.sending.identities = map[string]bool{}
	}
	s.sending.identities[identity] = verified
}

func (s *Server) lookup(m map[string]bool, name string) bool {
	s.sending.mu.Lock()
	defer s.sending.mu.Unlock()
	v, ok := m[name]
	return !ok || v
}

func (s *Server) getConfigurationSet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	writeJSON(w, map[string]any{
		"ConfigurationSetName": name,
		"SendingOptions":       map[string]any{"SendingEnabled": s.lookup(s.sending.configSets, name)},
	})
}

func (s *Server) getEmailIdentity(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("identity")
	writeJSON(w, map[string]any{
		"IdentityType":             "EMAIL_ADDRESS",
		"VerifiedForSendingStatus": s.lookup(s.sending.identities, id),
	})
}
