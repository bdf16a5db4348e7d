package report

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var previewOut = flag.String("preview-out", "", "write a demo workbook of a realistic sample run into this directory (make preview)")

// demoRun is a realistic, deterministic sample run: a small organisation
// with every Scan Status, AWS and custom rules, findings with long and
// hostile-looking values, an opt-in region one account has not enabled, a
// stopped and a missing Config recorder, and owner columns (one account
// without tags), for eyeballing the workbook (make preview).
func demoRun() (Run, []Account, []ErrorRow, []Finding) {
	run := Run{RunID: "01JDQ3Z8W6K2M4N5P7R9T1V3X5", GeneratedAt: time.Date(2026, 11, 23, 1, 0, 12, 0, time.UTC),
		Trigger: TriggerScheduled, Regions: []string{"ap-east-1", "ap-southeast-1", "us-east-1"},
		OwnerColumns: []string{"Owner", "Team"}}
	type ruleDef struct{ name, owner, id, typ string }
	rules := []ruleDef{
		{"s3-bucket-public-read-prohibited", "AWS", "S3_BUCKET_PUBLIC_READ_PROHIBITED", "AWS::S3::Bucket"},
		{"s3-bucket-server-side-encryption-enabled", "AWS", "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", "AWS::S3::Bucket"},
		{"encrypted-volumes", "AWS", "ENCRYPTED_VOLUMES", "AWS::EC2::Volume"},
		{"restricted-ssh", "AWS", "INCOMING_SSH_DISABLED", "AWS::EC2::SecurityGroup"},
		{"iam-user-mfa-enabled", "AWS", "IAM_USER_MFA_ENABLED", "AWS::IAM::User"},
		{"rds-storage-encrypted", "AWS", "RDS_STORAGE_ENCRYPTED", "AWS::RDS::DBInstance"},
		{"cloudtrail-enabled", "AWS", "CLOUD_TRAIL_ENABLED", "AWS::::Account"},
		{"required-tags-costcentre", "CUSTOM_LAMBDA", "arn:aws:lambda:ap-east-1:111122223333:function:required-tags", "AWS::EC2::Instance"},
		{"guard-no-public-lambda-url", "CUSTOM_POLICY", "", "AWS::Lambda::Function"},
	}
	type acctDef struct {
		id, name, ou string
		status       Status
		owners       []string
		// disabled: an opt-in region the account has not enabled;
		// recorder: a region whose recorder is stopped or absent.
		disabled, recorderRegion, recorder string
	}
	defs := []acctDef{
		{"012345678901", "payments-prod", "Root/Prod/Payments", StatusOK, []string{"maria.chan@example.com", "Payments"}, "", "", ""},
		{"023456789012", "payments-staging", "Root/NonProd/Payments", StatusOK, []string{"maria.chan@example.com", "Payments"}, "", "", ""},
		{"111122223333", "security-tooling", "Root/Security", StatusOK, []string{"secops@example.com", "Security"}, "", "", ""},
		{"210987654321", "legacy-billing", "Root/Legacy", StatusFailed, nil, "", "", ""},
		{"334455667788", "data-lake-prod", "Root/Prod/Data", StatusPartial, []string{"dev.rao@example.com", "Data"}, "", "", ""},
		{"445566778899", "sandbox-alice", "Root/Sandbox", StatusOK, []string{"alice@example.com"}, "ap-east-1", "", ""},
		{"556677889900", "shared-networking", "Root/Infrastructure", StatusPartial, []string{"netops@example.com", "Platform"}, "", "us-east-1", RecorderStopped},
		{"667788990011", "ml-experiments", "Root/Sandbox", StatusMissing, []string{"", "ML"}, "", "", ""},
		{"778899001122", "customer-portal-prod", "Root/Prod/Web", StatusOK, []string{"web-team@example.com", "Web"}, "", "", ""},
		{"889900112233", "management", "Root", StatusPartial, []string{"cloud-admins@example.com", "Platform"}, "", "ap-southeast-1", RecorderNone},
	}
	r := rand.New(rand.NewPCG(42, 7))
	var accts []Account
	var errs []ErrorRow
	var fs []Finding
	for _, d := range defs {
		a := Account{ID: d.id, Name: d.name, OUPath: d.ou, Status: d.status, Owners: d.owners}
		switch d.status {
		case StatusFailed:
			errs = append(errs, ErrorRow{AccountID: d.id, Stage: "assume-role", Code: "AccessDenied", Attempts: 1,
				Message: "operation error STS: AssumeRole, https response error StatusCode: 403, api error AccessDenied: User: arn:aws:sts::111122223333:assumed-role/config-report-hub/scanner is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/config-report-read"})
			accts = append(accts, a)
			continue
		case StatusMissing:
			accts = append(accts, a)
			continue
		}
		for _, region := range run.Regions {
			enabled := region != d.disabled
			cov := Coverage{Region: region, Enabled: &enabled}
			switch {
			case !enabled:
				cov.Read = ReadSkipped
				a.Coverage = append(a.Coverage, cov)
				continue
			case d.id == "334455667788" && region == "ap-east-1":
				errs = append(errs, ErrorRow{AccountID: d.id, Region: region, Stage: "config", Code: "RequestTimeout", Attempts: 3,
					Message: "operation error Config Service: GetComplianceDetailsByConfigRule, exceeded maximum number of attempts, 3, https response error: context deadline exceeded"})
				cov.Read = ReadFailed
				a.Coverage = append(a.Coverage, cov)
				continue
			}
			cov.Read, cov.Recorder = ReadYes, RecorderRecording
			if region == d.recorderRegion {
				cov.Recorder = d.recorder
				code, msg := "NotRecording", "the configuration recorder default is not recording (last stopped 2026-10-02 08:41 UTC)"
				if d.recorder == RecorderNone {
					code, msg = "NoRecorder", "no configuration recorder in "+region
				}
				errs = append(errs, ErrorRow{AccountID: d.id, Region: region, Stage: "recorder", Code: code, Message: msg, Attempts: 1})
			}
			n := len(a.Rules)
			for i, rd := range rules {
				if (i+len(d.id)+len(region))%5 == 0 {
					continue // not deployed here
				}
				c := Compliant
				switch p := r.IntN(10); {
				case p < 4:
					c = NonCompliant
				case p == 9:
					c = "INSUFFICIENT_DATA"
				}
				a.Rules = append(a.Rules, RuleResult{Region: region, Name: rd.name, SourceOwner: rd.owner, SourceIdentifier: rd.id, Compliance: c})
				if c != NonCompliant {
					continue
				}
				for k := range 1 + r.IntN(6) {
					f := Finding{AccountID: d.id, Region: region, RuleName: rd.name, ResourceType: rd.typ,
						ResourceID: demoResourceID(rd.typ, d.name, k, r), Compliance: NonCompliant,
						RecordedAt: run.GeneratedAt.Add(-time.Duration(r.IntN(7*24*60)) * time.Minute)}
					if r.IntN(3) > 0 {
						f.Annotation = demoAnnotation(rd.name)
					}
					fs = append(fs, f)
				}
			}
			n = len(a.Rules) - n
			cov.Rules = &n
			a.Coverage = append(a.Coverage, cov)
		}
		accts = append(accts, a)
	}
	// Values that must stay text.
	fs = append(fs, Finding{AccountID: "445566778899", Region: "us-east-1", RuleName: "required-tags-costcentre",
		ResourceType: "AWS::EC2::Instance", ResourceID: "=HYPERLINK(\"http://evil.example\",\"click\")",
		Compliance: NonCompliant, Annotation: "@SUM(1+1) tag value copied from a user", RecordedAt: run.GeneratedAt.Add(-time.Hour)})
	if !slices.ContainsFunc(accts[5].Rules, func(rr RuleResult) bool {
		return rr.Region == "us-east-1" && rr.Name == "required-tags-costcentre"
	}) {
		accts[5].Rules = append(accts[5].Rules, RuleResult{Region: "us-east-1", Name: "required-tags-costcentre", SourceOwner: "CUSTOM_LAMBDA", Compliance: NonCompliant})
		*accts[5].Coverage[2].Rules++
	}
	slices.SortFunc(fs, func(a, b Finding) int { return compareFindings(&a, &b) })
	return run, accts, errs, fs
}

func demoResourceID(typ, acct string, k int, r *rand.Rand) string {
	switch typ {
	case "AWS::S3::Bucket":
		return fmt.Sprintf("%s-%s-%d", acct, []string{"logs", "artifacts", "exports", "backups"}[k%4], r.IntN(1000))
	case "AWS::EC2::Volume":
		return fmt.Sprintf("vol-%017x", r.Uint64()>>4)
	case "AWS::EC2::SecurityGroup":
		return fmt.Sprintf("sg-%017x", r.Uint64()>>4)
	case "AWS::EC2::Instance":
		return fmt.Sprintf("i-%017x", r.Uint64()>>4)
	case "AWS::IAM::User":
		return fmt.Sprintf("AIDA%016X", r.Uint64())
	case "AWS::Lambda::Function":
		return fmt.Sprintf("%s-handler-%d", acct, k)
	case "AWS::RDS::DBInstance":
		return fmt.Sprintf("db-%s-%d", strings.ToUpper(acct[:4]), k)
	}
	return acct
}

func demoAnnotation(rule string) string {
	switch {
	case strings.HasPrefix(rule, "s3-bucket-public"):
		return "The bucket policy allows public read access."
	case strings.HasPrefix(rule, "s3-bucket-server"):
		return "Default encryption is not enabled on the bucket."
	case rule == "restricted-ssh":
		return "Ingress 0.0.0.0/0 on port 22."
	case strings.HasPrefix(rule, "required-tags"):
		return "Missing required tags: CostCentre, Owner."
	}
	return "The resource is not compliant with the rule."
}

// TestPreviewWorkbook writes the demo workbook when -preview-out is given;
// otherwise it only checks that the demo renders.
func TestPreviewWorkbook(t *testing.T) {
	run, accts, errs, fs := demoRun()
	data := mustRender(t, run, accts, errs, fs)
	if *previewOut == "" {
		return
	}
	if err := os.MkdirAll(*previewOut, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(*previewOut, FileName(run.RunID))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d findings)", p, len(fs))
}
