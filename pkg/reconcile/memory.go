package reconcile

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Memory is an in-memory events queue with SQS's semantics: a received
// message is invisible for the visibility timeout, then delivered again
// unless deleted, and moved to Dead after MaxReceives deliveries (the
// redrive policy). `make demo` and the unit tests feed it with Put.
// It is safe for concurrent use.
type Memory struct {
	// Visibility is how long a received message stays invisible. Default
	// 30 s.
	Visibility time.Duration
	// MaxReceives moves a message to Dead when it would be delivered once
	// more; 0: never.
	MaxReceives int
	// Wait is how long Receive waits for a message when none is visible.
	// Default 1 s.
	Wait time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	mu     sync.Mutex
	seq    int
	msgs   []*memMsg
	dead   [][]byte
	notify chan struct{}
}

type memMsg struct {
	id       string
	receipt  string
	body     []byte
	sentAt   time.Time
	visible  time.Time
	receives int
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Put adds a message (an SES event, raw or in an SNS envelope).
func (m *Memory) Put(body []byte) {
	m.mu.Lock()
	m.seq++
	now := m.now()
	m.msgs = append(m.msgs, &memMsg{id: "m" + strconv.Itoa(m.seq), body: append([]byte(nil), body...), sentAt: now, visible: now})
	if m.notify != nil {
		close(m.notify)
		m.notify = nil
	}
	m.mu.Unlock()
}

// Receive returns up to 10 visible messages, waiting up to Wait for one.
func (m *Memory) Receive(ctx context.Context) ([]Message, error) {
	wait := m.Wait
	if wait <= 0 {
		wait = time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		out, ch := m.take()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		case <-ch:
		case <-time.After(pollEvery): // a message may become visible again without a Put
		}
	}
}

// pollEvery bounds the wait of Receive for a message that becomes visible
// again (its visibility timeout passed) rather than being Put.
const pollEvery = 50 * time.Millisecond

func (m *Memory) take() ([]Message, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	vis := m.Visibility
	if vis <= 0 {
		vis = 30 * time.Second
	}
	var out []Message
	keep := m.msgs[:0]
	for _, mm := range m.msgs {
		if len(out) < 10 && !now.Before(mm.visible) {
			if m.MaxReceives > 0 && mm.receives >= m.MaxReceives {
				m.dead = append(m.dead, mm.body)
				continue
			}
			mm.receives++
			mm.visible = now.Add(vis)
			mm.receipt = mm.id + "/" + strconv.Itoa(mm.receives)
			out = append(out, Message{ID: mm.id, Receipt: mm.receipt, Body: mm.body, SentAt: mm.sentAt, Receives: mm.receives})
		}
		keep = append(keep, mm)
	}
	m.msgs = keep
	if len(out) > 0 {
		return out, nil
	}
	if m.notify == nil {
		m.notify = make(chan struct{})
	}
	return nil, m.notify
}

// Delete removes messages by their latest receipt (an old receipt is
// ignored, as in SQS after the message was received again).
func (m *Memory) Delete(_ context.Context, msgs []Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	del := map[string]bool{}
	for _, x := range msgs {
		del[x.Receipt] = true
	}
	keep := m.msgs[:0]
	for _, mm := range m.msgs {
		if !del[mm.receipt] || mm.receipt == "" {
			keep = append(keep, mm)
		}
	}
	m.msgs = keep
	return nil
}

// Extend keeps messages invisible for d from now.
func (m *Memory) Extend(_ context.Context, msgs []Message, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ext := map[string]bool{}
	for _, x := range msgs {
		ext[x.Receipt] = true
	}
	for _, mm := range m.msgs {
		if ext[mm.receipt] {
			mm.visible = m.now().Add(d)
		}
	}
	return nil
}

// Len is how many messages the queue holds (visible or not), Dead aside.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

// Dead returns the bodies moved out after MaxReceives deliveries.
func (m *Memory) Dead() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.dead...)
}
