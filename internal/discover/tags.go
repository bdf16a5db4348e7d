package discover

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/cybsecops/configreport/internal/ident"
)

// Tags are accounts' tags by account id, only the keys Config.TagKeys
// names.
type Tags map[ident.AccountID]map[string]string

// accountTags reads every page of an account's tags (ListTagsForResource
// answers pages of at most 20, and like every Organizations listing may
// answer an empty page with a token) and keeps the keys wanted names; nil
// when it has none of them.
func accountTags(ctx context.Context, api API, id ident.AccountID, wanted map[string]bool) (map[string]string, error) {
	var out map[string]string
	p := organizations.NewListTagsForResourcePaginator(api, &organizations.ListTagsForResourceInput{ResourceId: aws.String(string(id))})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages == maxTagPages {
			return nil, fmt.Errorf("list tags of account %s: more than %d pages", id, maxTagPages)
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tags of account %s: %w", id, err)
		}
		for _, t := range page.Tags {
			k := aws.ToString(t.Key)
			if !wanted[k] {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[k] = aws.ToString(t.Value)
		}
	}
	return out, nil
}

// maxTagPages bounds one account's tag listing: AWS allows 50 tags, three
// pages of 20; past this the endpoint is misbehaving.
const maxTagPages = 100

// tagKeySet is the set of keys to keep; nil when none are wanted.
func tagKeySet(keys []string) map[string]bool {
	if len(keys) == 0 {
		return nil
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}
