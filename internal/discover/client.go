package discover

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cybsecops/configreport/internal/ident"
)

// Assumer gives a copy of a config acting as a role assumed from it;
// *awsconf.Roles is one.
type Assumer interface {
	Config(base aws.Config, role ident.RoleARN) aws.Config
}

// NewClient returns the Organizations client of the walk and the ad-hoc
// lookup. With roleARN (-org-role-arn, the org-list role in the management
// account) it acts as that role, assumed from hub's identity by roles;
// with an empty roleARN it uses hub's own credentials (the ambient
// identity: a laptop profile in the management account, or awssim).
// Organizations is a global service: the SDK sends it to us-east-1 in the
// commercial partition whatever hub's region.
func NewClient(hub aws.Config, roleARN string, roles Assumer, optFns ...func(*organizations.Options)) (*organizations.Client, error) {
	cfg := hub
	if roleARN != "" {
		arn, err := ident.ParseRoleARN(roleARN)
		if err != nil {
			return nil, fmt.Errorf("org role: %w", err)
		}
		if roles == nil {
			return nil, fmt.Errorf("org role %s: no role assumer given", arn)
		}
		cfg = roles.Config(hub, arn)
	}
	return organizations.NewFromConfig(cfg, optFns...), nil
}
