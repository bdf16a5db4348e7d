package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
)

// maxDepth bounds the climb to the root: Organizations allows OUs five
// levels deep, so a longer chain means a cycle or a misbehaving endpoint.
const maxDepth = 10

// Lookup finds the given accounts, for an ad-hoc run, without walking the
// tree: DescribeAccount for the name and state, then ListParents up to the
// root and DescribeOrganizationalUnit for each OU's name (cached, so
// accounts sharing OUs cost fewer calls), and its tags (ListTagsForResource)
// when the config names TagKeys. The filter is not applied: an
// ad-hoc run scans what it was asked for. The accounts come back sorted by
// id, duplicates dropped. Every account that cannot be scanned (not in the
// organisation, not ACTIVE) is named in one error wrapping
// events.ErrNotScannable; other errors are returned as they come.
func (w *Walker) Lookup(ctx context.Context, ids []ident.AccountID) ([]events.Account, error) {
	lim := &limited{api: w.api, sem: make(chan struct{}, 1)}
	l := lookup{api: lim, paths: map[string]string{}, keys: w.keys}
	var (
		out  []events.Account
		errs []error
		seen = map[ident.AccountID]bool{}
	)
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := ident.ParseAccountID(string(id)); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", events.ErrNotScannable, err))
			continue
		}
		a, err := l.account(ctx, id)
		if errors.Is(err, events.ErrNotScannable) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	SortAccounts(out)
	w.log.Info("accounts looked up", slog.Int("accounts", len(out)), slog.Int("api_calls", int(lim.calls.Load())))
	return out, nil
}

type lookup struct {
	api   API
	paths map[string]string // OU id -> path
	keys  map[string]bool   // tags to read; nil: none
}

func (l *lookup) account(ctx context.Context, id ident.AccountID) (events.Account, error) {
	out, err := l.api.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(string(id))})
	var nf *types.AccountNotFoundException
	if errors.As(err, &nf) {
		return events.Account{}, fmt.Errorf("%w: account %s is not in the organization", events.ErrNotScannable, id)
	}
	if err != nil {
		return events.Account{}, fmt.Errorf("describe account %s: %w", id, err)
	}
	if out.Account == nil {
		return events.Account{}, fmt.Errorf("describe account %s: empty answer", id)
	}
	if st := accountState(*out.Account); st != string(types.AccountStateActive) {
		return events.Account{}, fmt.Errorf("%w: account %s is %s, not ACTIVE", events.ErrNotScannable, id, st)
	}
	path, err := l.pathOf(ctx, string(id), 0)
	if err != nil {
		return events.Account{}, fmt.Errorf("OU path of account %s: %w", id, err)
	}
	a := events.Account{AccountID: id, Name: aws.ToString(out.Account.Name), OUPath: path}
	if l.keys != nil {
		if a.Tags, err = accountTags(ctx, l.api, id, l.keys); err != nil {
			return events.Account{}, err
		}
	}
	return a, nil
}

// pathOf is the OU path of the OU an account or OU sits in.
func (l *lookup) pathOf(ctx context.Context, childID string, depth int) (string, error) {
	if depth > maxDepth {
		return "", fmt.Errorf("more than %d levels above %s", maxDepth, childID)
	}
	parent, err := l.parent(ctx, childID)
	if err != nil {
		return "", err
	}
	if parent.Type == types.ParentTypeRoot {
		return RootPath, nil
	}
	return l.ouPath(ctx, aws.ToString(parent.Id), depth+1)
}

// ouPath is the path of an OU: its parent's path and its own name.
func (l *lookup) ouPath(ctx context.Context, ouID string, depth int) (string, error) {
	if p, ok := l.paths[ouID]; ok {
		return p, nil
	}
	out, err := l.api.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(ouID)})
	if err != nil {
		return "", fmt.Errorf("describe OU %s: %w", ouID, err)
	}
	if out.OrganizationalUnit == nil {
		return "", fmt.Errorf("describe OU %s: empty answer", ouID)
	}
	above, err := l.pathOf(ctx, ouID, depth)
	if err != nil {
		return "", err
	}
	p := above + "/" + aws.ToString(out.OrganizationalUnit.Name)
	l.paths[ouID] = p
	return p, nil
}

// parent returns the one parent of an account or OU (Organizations gives
// each exactly one), reading every page: like every listing it may answer
// an empty page with a token.
func (l *lookup) parent(ctx context.Context, childID string) (types.Parent, error) {
	var parents []types.Parent
	p := organizations.NewListParentsPaginator(l.api, &organizations.ListParentsInput{ChildId: aws.String(childID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return types.Parent{}, fmt.Errorf("list parents of %s: %w", childID, err)
		}
		parents = append(parents, page.Parents...)
	}
	if len(parents) != 1 {
		return types.Parent{}, fmt.Errorf("list parents of %s: %d parents, want 1", childID, len(parents))
	}
	return parents[0], nil
}
