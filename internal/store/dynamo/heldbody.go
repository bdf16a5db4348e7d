package dynamo

import (
	"context"
	"fmt"
	"iter"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cybsecops/configreport/internal/events"
	"github.com/cybsecops/configreport/internal/ident"
	"github.com/cybsecops/configreport/internal/store"
)

// attrRegions is a HELD# item's covered regions (store.CoveredRegions), a
// list of strings; with its `status`, what promotion decides on.
const attrRegions = "regions"

func regionList(rs []ident.Region) types.AttributeValue {
	l := make([]types.AttributeValue, len(rs))
	for i, r := range rs {
		l[i] = str(string(r))
	}
	return &types.AttributeValueMemberL{Value: l}
}

// heldSummary reads a HELD# item's status and regions; ok is false for an
// item held before they were written, whose body says them instead.
func heldSummary(item map[string]types.AttributeValue) (events.Status, []ident.Region, bool) {
	l, ok := item[attrRegions].(*types.AttributeValueMemberL)
	if !ok {
		return "", nil, false
	}
	if _, ok := item[attrStatus].(*types.AttributeValueMemberS); !ok {
		return "", nil, false
	}
	rs := make([]ident.Region, 0, len(l.Value))
	for _, v := range l.Value {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", nil, false
		}
		rs = append(rs, ident.Region(s.Value))
	}
	return events.Status(getS(item, attrStatus)), rs, true
}

// HeldBodies implements store.HeldCopier: Held's Query, each body read (a
// chunked one reassembled) but not decoded. An item held before HoldResult
// wrote its status and regions has its body decoded for them.
func (s *Store) HeldBodies(ctx context.Context, id ident.RunID) iter.Seq2[store.HeldBody, error] {
	return runItems(ctx, s, id, "held results", "HELD#", func(pk string, it map[string]types.AttributeValue) (store.HeldBody, error) {
		return s.heldBody(ctx, id, pk, it)
	})
}

func (s *Store) heldBody(ctx context.Context, id ident.RunID, pk string, it map[string]types.AttributeValue) (store.HeldBody, error) {
	body, err := s.storedBody(ctx, pk, it, "HELD#", "HBLOB#")
	if err != nil {
		return store.HeldBody{}, err
	}
	h := store.HeldBody{RunID: id, AccountID: ident.AccountID(getS(it, AttrSK)[len("HELD#"):]), Body: body}
	var ok bool
	if h.Status, h.Regions, ok = heldSummary(it); ok {
		return h, nil
	}
	res := new(events.AccountScanned)
	if err := gunzipJSON(h.Body, res); err != nil {
		return store.HeldBody{}, fmt.Errorf("decode: %w", err)
	}
	h.Status, h.Regions = res.Status, store.CoveredRegions(res)
	return h, nil
}

// RecordHeld implements store.HeldCopier: RecordResultCounted's writes
// with the held body, which is the same gzip JSON, as the body.
func (s *Store) RecordHeld(ctx context.Context, h store.HeldBody) (bool, error) {
	if _, err := ident.ParseRunID(string(h.RunID)); err != nil {
		return false, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	if _, err := ident.ParseAccountID(string(h.AccountID)); err != nil {
		return false, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	if len(h.Body) == 0 {
		return false, fmt.Errorf("%w: held result %s/%s without a body", store.ErrInvalid, h.RunID, h.AccountID)
	}
	created, _, err := s.recordBody(ctx, h.RunID, h.AccountID, h.Status, h.Body)
	return created, err
}
