package app_test

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/cybsecops/configreport/internal/app"
	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/blob"
)

// chanBus is a Bus over one GoChannel.
type chanBus struct{ *gochannel.GoChannel }

func (b chanBus) Publisher() message.Publisher   { return b.GoChannel }
func (b chanBus) Subscriber() message.Subscriber { return b.GoChannel }

// ExampleTrigger wires the trigger as a main would: flags into
// TriggerConfig, the hub identity with its role cache (the walk acts as
// the org-list role), a bus (here an in-process GoChannel; SQS and SNS in
// the cluster) and a codec whose claim checks go to a blob store.
func ExampleTrigger() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	var flags app.TriggerFlags
	fs := flag.NewFlagSet("trigger", flag.ExitOnError)
	flags.Register(fs)
	_ = fs.Parse([]string{"-regions", "us-east-1,ap-east-1", "-exclude-ous", "Root/Sandbox"})
	cfg, err := flags.Config()
	if err != nil {
		log.Error("bad configuration", slog.Any("error", err))
		return
	}

	hub, err := awsconf.Load(ctx, awsconf.Options{})
	if err != nil {
		log.Error("aws config", slog.Any("error", err))
		return
	}
	a, err := app.NewAWS(hub, flags.OrgRoleARN, "configreport-trigger")
	if err != nil {
		log.Error("roles", slog.Any("error", err))
		return
	}
	bus := chanBus{gochannel.NewGoChannel(gochannel.Config{}, watermill.NewSlogLogger(log))}
	rs, err := app.Trigger(ctx, cfg, bus, a, app.Codec(blob.Folder{Dir: "out/blobs"}, "claims"), log)
	if err != nil {
		log.Error("trigger failed", slog.Any("error", err))
		return
	}
	log.Info("done", slog.String("run_id", string(rs.RunID)), slog.Int("accounts", len(rs.Accounts)))
}
