package trigger_test

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/cybsecops/configreport/internal/awsconf"
	"github.com/cybsecops/configreport/internal/blob"
	"github.com/cybsecops/configreport/internal/discover"
	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/trigger"
)

// Example wires the trigger as a main would: flags into Config, the
// Organizations client acting as the org-list role, a publisher (here
// local mode's in-process bus; SQS and SNS in the cluster) and a codec
// whose claim checks go to a blob store.
func Example() {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	var flags trigger.Flags
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
	roles, err := awsconf.NewRoles(hub, awsconf.RoleOptions{SessionName: "configreport-trigger"})
	if err != nil {
		log.Error("roles", slog.Any("error", err))
		return
	}
	orgs, err := discover.NewClient(hub, flags.OrgRoleARN, roles)
	if err != nil {
		log.Error("organizations client", slog.Any("error", err))
		return
	}

	bus := gochannel.NewGoChannel(gochannel.Config{}, watermill.NewSlogLogger(log))
	rs, err := trigger.Run(ctx, cfg, trigger.Deps{
		Orgs:      orgs,
		Publisher: bus,
		Codec:     events.Codec{Payloads: blob.Payloads{Store: blob.Folder{Dir: "out/blobs"}}, PayloadPrefix: "claims"},
		Logger:    log,
	})
	if err != nil {
		log.Error("trigger failed", slog.Any("error", err))
		return
	}
	log.Info("done", slog.String("run_id", string(rs.RunID)), slog.Int("accounts", len(rs.Accounts)))
}
