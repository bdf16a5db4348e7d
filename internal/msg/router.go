package msg

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cybsecops/configreport/internal/events"
)

// Metadata set on a message copied to the poison queue.
const (
	MetaPoisonReason    = "poison_reason"  // events.Reason
	MetaPoisonError     = "poison_error"   // the decode error, truncated
	MetaPoisonSource    = "poison_source"  // logical topic it was consumed from
	MetaPoisonHandler   = "poison_handler" // router handler name
	MetaPoisonMessageID = "poison_message_id"
	// MetaPoisonTruncated is set, to the original body size, when the body
	// was cut to fit the poison queue (a too-large message cannot be copied
	// whole into a queue with the same limit).
	MetaPoisonTruncated = "poison_truncated"
)

// Outcomes counted per handler.
const (
	OutcomeAck    = "ack"    // handled
	OutcomeNack   = "nack"   // transient failure: redelivered (DLQ after maxReceiveCount)
	OutcomePoison = "poison" // never decodable: copied to the poison queue, acked
	OutcomePanic  = "panic"  // handler panicked: nacked like a transient failure
)

// SQS accepts at most 10 message attributes per message; watermill-aws uses
// one for its UUID.
const maxAttributes = 10 - 1

// Metrics are the router's Prometheus series.
type Metrics struct {
	messages *prometheus.CounterVec
	poison   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

// NewMetrics registers the series on reg (prometheus.DefaultRegisterer when
// nil). Registering twice on one registry reuses the first series, so two
// routers in one process (local mode) share them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "configreport", Name: "messages_total",
			Help: "Messages handled, by handler and outcome (ack, nack, poison, panic).",
		}, []string{"handler", "outcome"}),
		poison: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "configreport", Name: "poison_messages_total",
			Help: "Messages sent to the poison queue, by handler and reason.",
		}, []string{"handler", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "configreport", Name: "message_handling_seconds",
			Help:    "Time spent handling one message, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8), // 10ms .. ~2.7min
		}, []string{"handler"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "configreport", Name: "messages_in_flight",
			Help: "Messages being handled now (received, not yet acked or nacked).",
		}, []string{"handler"}),
	}
	var err error
	if m.messages, err = register(reg, m.messages); err != nil {
		return nil, err
	}
	if m.poison, err = register(reg, m.poison); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.inFlight, err = register(reg, m.inFlight); err != nil {
		return nil, err
	}
	return m, nil
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

func (m *Metrics) count(handler, outcome string) {
	if m != nil {
		m.messages.WithLabelValues(handler, outcome).Inc()
	}
}

// RouterConfig configures NewRouter.
type RouterConfig struct {
	// Poison receives never-decodable messages on PoisonTopic.
	Poison      message.Publisher
	PoisonTopic string // default events.TopicPoison
	// CloseTimeout bounds how long Close waits for handlers in flight. It
	// must be shorter than the pod's terminationGracePeriodSeconds (30s by
	// default) so the process exits on its own before SIGKILL; a message
	// not acked by then returns to its queue after the visibility timeout.
	// Default 20s.
	CloseTimeout time.Duration
	// Retries of a transient handler error in process, with exponential
	// backoff from RetryBackoff, before the message is nacked (default 2,
	// 500ms). Cheaper than a redelivery, and it keeps a GoChannel (local
	// mode), which redelivers a nack at once, from spinning. -1: none.
	Retries      int
	RetryBackoff time.Duration
	// Settle, when set, wraps every handler outermost (outside the poison
	// routing): Transport.Settle, which settles the messages in hand when
	// the subscription closes under them.
	Settle message.HandlerMiddleware
	// Metrics; nil registers on prometheus.DefaultRegisterer.
	Metrics *Metrics
	Logger  *slog.Logger
}

func (c *RouterConfig) setDefaults() error {
	if c.PoisonTopic == "" {
		c.PoisonTopic = events.TopicPoison
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 20 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 2
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return err
		}
		c.Metrics = m
	}
	return nil
}

// Validate reports every problem at once.
func (c RouterConfig) Validate() error {
	var errs []error
	if c.Poison == nil {
		errs = append(errs, errors.New("router: a poison publisher is required"))
	}
	if c.CloseTimeout < 0 {
		errs = append(errs, errors.New("router: negative close timeout"))
	}
	if c.Retries < -1 || c.RetryBackoff < 0 {
		errs = append(errs, errors.New("router: negative retries or backoff"))
	}
	return errors.Join(errs...)
}

// NewRouter returns a watermill router with the house policy on every
// handler, outermost first: settling after close (cfg.Settle, when set),
// metrics and poison routing, in-process retry of
// transient errors, panic recovery. Run it with router.Run(ctx) on a
// signal.NotifyContext context.
func NewRouter(cfg RouterConfig) (*message.Router, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	if cfg.Settle != nil {
		r.AddMiddleware(cfg.Settle)
	}
	r.AddMiddleware(
		Poison(cfg.Poison, cfg.PoisonTopic, cfg.Metrics, cfg.Logger),
		Retry(cfg.Retries, cfg.RetryBackoff, cfg.Logger),
		Recoverer(cfg.Logger),
	)
	return r, nil
}

// AddConsumers adds n handlers named name-0..name-(n-1) on topic, each
// handling one message at a time, so up to n messages are handled at once.
// Over the SQS transport the scan and poison queues' handlers share one
// receive loop (queueReceiver); the results queue's each poll on their own
// (watermill-aws).
func AddConsumers(r *message.Router, name, topic string, sub message.Subscriber, n int, h message.NoPublishHandlerFunc) {
	if n < 1 {
		n = 1
	}
	for i := range n {
		r.AddConsumerHandler(name+"-"+strconv.Itoa(i), topic, sub, h)
	}
}

// PanicError is what Recoverer turns a handler panic into.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// Recoverer turns a panic into a *PanicError, which is then treated as a
// transient failure: the message is nacked and redelivered, and after the
// queue's maxReceiveCount it rests in the DLQ. A panic is a bug of ours, not
// proof the message is bad (handlers never panic on bad input: decoding
// errors are DecodeErrors), so the message is kept where it can be
// redriven once the bug is fixed, rather than filed as poison.
func Recoverer(logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) (out []*message.Message, err error) {
			defer func() {
				if v := recover(); v != nil {
					pe := &PanicError{Value: v, Stack: debug.Stack()}
					logger.Error("handler panicked",
						slog.String("handler", message.HandlerNameFromCtx(msg.Context())),
						slog.String("message_uuid", msg.UUID),
						slog.Any("panic", v), slog.String("stack", string(pe.Stack)))
					out, err = nil, pe
				}
			}()
			return h(msg)
		}
	}
}

// Retry retries a transient error (neither a DecodeError nor a panic) up
// to retries times with exponential backoff, stopping early when the
// message's context ends (shutdown).
func Retry(retries int, backoff time.Duration, logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			delay := backoff
			for attempt := 0; ; attempt++ {
				out, err := h(msg)
				var pe *PanicError
				if err == nil || events.ReasonOf(err) != "" || errors.As(err, &pe) || attempt >= max(retries, 0) {
					return out, err
				}
				logger.Warn("handler failed, retrying",
					slog.String("handler", message.HandlerNameFromCtx(msg.Context())),
					slog.String("message_uuid", msg.UUID), slog.Int("attempt", attempt+1), slog.Any("error", err))
				select {
				case <-msg.Context().Done():
					return out, err
				case <-time.After(delay):
				}
				delay *= 2
			}
		}
	}
}

// Poison routes never-decodable messages: when the handler's error wraps an
// *events.DecodeError, a copy of the message (original body, metadata, and
// poison_reason, poison_error, poison_source, poison_handler) is published
// to topic and the message is acked, so it never blocks or loops. Any other
// error is returned: the router nacks and the queue redelivers. If the
// poison publish itself fails the error is returned too, so the message is
// not lost. It counts every outcome on m.
func Poison(pub message.Publisher, topic string, m *Metrics, logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			handler := message.HandlerNameFromCtx(msg.Context())
			start := time.Now()
			if m != nil {
				g := m.inFlight.WithLabelValues(handler)
				g.Inc()
				defer g.Dec()
			}
			out, err := h(msg)
			if m != nil {
				m.duration.WithLabelValues(handler).Observe(time.Since(start).Seconds())
			}
			if err == nil {
				m.count(handler, OutcomeAck)
				return out, nil
			}
			reason := events.ReasonOf(err)
			if reason == "" {
				var pe *PanicError
				if errors.As(err, &pe) {
					m.count(handler, OutcomePanic)
				} else {
					m.count(handler, OutcomeNack)
					logger.Warn("message nacked for redelivery",
						slog.String("handler", handler), slog.String("message_uuid", msg.UUID), slog.Any("error", err))
				}
				return out, err
			}
			pm := PoisonCopy(msg, reason, err)
			pm.SetContext(msg.Context())
			if perr := pub.Publish(topic, pm); perr != nil {
				m.count(handler, OutcomeNack)
				return nil, fmt.Errorf("send %s message %s to the poison queue: %w (after: %w)", reason, msg.UUID, perr, err)
			}
			m.count(handler, OutcomePoison)
			if m != nil {
				m.poison.WithLabelValues(handler, string(reason)).Inc()
			}
			logger.Warn("message sent to the poison queue",
				slog.String("handler", handler), slog.String("message_uuid", msg.UUID),
				slog.String("reason", string(reason)), slog.Any("error", err))
			return nil, nil
		}
	}
}

// PoisonCopy builds the poison-queue copy of msg. The body is the original
// one, cut (on a UTF-8 boundary) to fit one message when it does not; the
// metadata is the poison fields, then as many original keys (sorted) as
// SQS's 10 attributes allow.
func PoisonCopy(msg *message.Message, reason events.Reason, cause error) *message.Message {
	body := msg.Payload
	truncated := 0
	if len(body) > events.MaxInlineBody {
		truncated = len(body)
		cut := events.MaxInlineBody
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		body = body[:cut]
	}
	pm := message.NewMessage(watermill.NewUUID(), append([]byte(nil), body...))
	errText := cause.Error()
	if len(errText) > 1024 {
		errText = errText[:1024]
		for len(errText) > 0 && !utf8.ValidString(errText) {
			errText = errText[:len(errText)-1]
		}
	}
	source := message.SubscribeTopicFromCtx(msg.Context())
	pm.Metadata.Set(MetaPoisonReason, string(reason))
	pm.Metadata.Set(MetaPoisonError, errText)
	pm.Metadata.Set(MetaPoisonMessageID, msg.UUID)
	if source != "" {
		pm.Metadata.Set(MetaPoisonSource, source)
	}
	if h := message.HandlerNameFromCtx(msg.Context()); h != "" {
		pm.Metadata.Set(MetaPoisonHandler, h)
	}
	if truncated > 0 {
		pm.Metadata.Set(MetaPoisonTruncated, strconv.Itoa(truncated))
	}
	keys := make([]string, 0, len(msg.Metadata))
	for k := range msg.Metadata {
		if _, taken := pm.Metadata[k]; !taken && !isTransportMeta(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(pm.Metadata) >= maxAttributes {
			break
		}
		pm.Metadata.Set(k, msg.Metadata.Get(k))
	}
	return pm
}
