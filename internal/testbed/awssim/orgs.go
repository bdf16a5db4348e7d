package awssim

import (
	"encoding/json"
	"hash/fnv"
	"regexp"
	"strconv"
	"time"
)

// epochSeconds marshals as JSON 1.1 timestamps travel: seconds since the
// epoch, as a number.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	return appendEpoch(nil, time.Time(t)), nil
}

func appendEpoch(dst []byte, t time.Time) []byte {
	if t.Nanosecond() == 0 {
		return strconv.AppendInt(dst, t.Unix(), 10)
	}
	return strconv.AppendFloat(dst, float64(t.UnixMilli())/1000, 'f', 3, 64)
}

type orgAccount struct {
	ID              string       `json:"Id"`
	Arn             string       `json:"Arn"`
	Email           string       `json:"Email"`
	Name            string       `json:"Name"`
	Status          string       `json:"Status"`
	State           string       `json:"State"`
	JoinedMethod    string       `json:"JoinedMethod"`
	JoinedTimestamp epochSeconds `json:"JoinedTimestamp"`
}

type orgOU struct {
	ID   string `json:"Id"`
	Arn  string `json:"Arn"`
	Name string `json:"Name"`
}

type orgRoot struct {
	ID          string `json:"Id"`
	Arn         string `json:"Arn"`
	Name        string `json:"Name"`
	PolicyTypes []any  `json:"PolicyTypes"`
}

type orgTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type orgParent struct {
	ID   string `json:"Id"`
	Type string `json:"Type"`
}

// Organizations pages hold at most 20 entries, and 20 is also the default.
const orgsMaxResults = 20

func (s *Sim) organizations(c *call) (any, *apiError) {
	var in struct {
		ParentID             string `json:"ParentId"`
		ChildID              string `json:"ChildId"`
		AccountID            string `json:"AccountId"`
		OrganizationalUnitID string `json:"OrganizationalUnitId"`
		ResourceID           string `json:"ResourceId"`
		MaxResults           *int   `json:"MaxResults"`
		NextToken            *string
	}
	if len(c.body) > 0 {
		if err := json.Unmarshal(c.body, &in); err != nil {
			return nil, &apiError{status: 400, code: "InvalidInputException", msg: "The request is malformed: " + err.Error(), reason: "INVALID_INPUT"}
		}
	}
	o := s.org
	switch c.op {
	case "DescribeOrganization":
		mgmt, _ := o.Account(o.ManagementAccountID)
		return map[string]any{"Organization": map[string]any{
			"Id": o.ID, "Arn": "arn:aws:organizations::" + o.ManagementAccountID + ":organization/" + o.ID,
			"FeatureSet": "ALL", "MasterAccountArn": s.accountArn(o.ManagementAccountID),
			"MasterAccountId": o.ManagementAccountID, "MasterAccountEmail": mgmt.Email,
			"AvailablePolicyTypes": []any{},
		}}, nil
	case "ListRoots":
		start, end, next, aerr := s.orgsPage(c, "", 1, in.MaxResults, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		roots := []orgRoot{}
		if start < end {
			roots = append(roots, s.root())
		}
		return paged(map[string]any{"Roots": roots}, next), nil
	case "ListOrganizationalUnitsForParent":
		if aerr := s.knownParent(in.ParentID); aerr != nil {
			return nil, aerr
		}
		kids := s.children[in.ParentID]
		start, end, next, aerr := s.orgsPage(c, in.ParentID, len(kids), in.MaxResults, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		out := make([]orgOU, 0, end-start)
		for _, i := range kids[start:end] {
			out = append(out, s.ouJSON(o.OUs[i]))
		}
		return paged(map[string]any{"OrganizationalUnits": out}, next), nil
	case "ListAccountsForParent":
		if aerr := s.knownParent(in.ParentID); aerr != nil {
			return nil, aerr
		}
		idx := s.accounts[in.ParentID]
		start, end, next, aerr := s.orgsPage(c, in.ParentID, len(idx), in.MaxResults, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		out := make([]orgAccount, 0, end-start)
		for _, i := range idx[start:end] {
			out = append(out, s.accountJSON(&o.Accounts[i]))
		}
		return paged(map[string]any{"Accounts": out}, next), nil
	case "ListAccounts":
		start, end, next, aerr := s.orgsPage(c, "", len(o.Accounts), in.MaxResults, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		out := make([]orgAccount, 0, end-start)
		for i := start; i < end; i++ {
			out = append(out, s.accountJSON(&o.Accounts[i]))
		}
		return paged(map[string]any{"Accounts": out}, next), nil
	case "ListParents":
		start, end, next, aerr := s.orgsPage(c, in.ChildID, 1, in.MaxResults, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		var path string
		if a, ok := o.Account(in.ChildID); ok {
			path = a.OUPath
		} else if i, ok := o.ouByID[in.ChildID]; ok {
			path = o.OUs[i].Path
			path = path[:len(path)-len(o.OUs[i].Name)-1]
		} else {
			return nil, badRequest("ChildNotFoundException", "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
		}
		p := orgParent{ID: o.RootID, Type: "ROOT"}
		if path != "Root" {
			p = orgParent{ID: o.OUs[s.ouByPath[path]].ID, Type: "ORGANIZATIONAL_UNIT"}
		}
		parents := []orgParent{}
		if start < end {
			parents = append(parents, p)
		}
		return paged(map[string]any{"Parents": parents}, next), nil
	case "DescribeAccount":
		i, ok := o.byID[in.AccountID]
		if !ok {
			return nil, badRequest("AccountNotFoundException", "You specified an account that doesn't exist.")
		}
		return map[string]any{"Account": s.accountJSON(&o.Accounts[i])}, nil
	case "ListTagsForResource":
		tags, aerr := s.resourceTags(in.ResourceID)
		if aerr != nil {
			return nil, aerr
		}
		// No MaxResults in this operation's input: pages of 20 tags.
		start, end, next, aerr := s.orgsPage(c, in.ResourceID, len(tags), nil, in.NextToken)
		if aerr != nil {
			return nil, aerr
		}
		out := make([]orgTag, 0, end-start)
		for _, t := range tags[start:end] {
			out = append(out, orgTag{Key: t.Key, Value: t.Value})
		}
		return paged(map[string]any{"Tags": out}, next), nil
	case "DescribeOrganizationalUnit":
		i, ok := o.ouByID[in.OrganizationalUnitID]
		if !ok {
			return nil, badRequest("OrganizationalUnitNotFoundException", "We can't find an OU with the OrganizationalUnitId that you specified.")
		}
		return map[string]any{"OrganizationalUnit": s.ouJSON(o.OUs[i])}, nil
	}
	return nil, badRequest("UnknownOperationException", "awssim does not implement Organizations "+c.op)
}

// targetID is the pattern of a taggable resource id: an account, a root,
// an OU or a policy.
var targetID = regexp.MustCompile(`^(\d{12}|r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|p-[0-9a-zA-Z_]{8,128})$`)

// resourceTags are the tags of an account, sorted by key; a root or an OU
// of the org has none.
func (s *Sim) resourceTags(id string) ([]Tag, *apiError) {
	if id == "" {
		return nil, &apiError{status: 400, code: "InvalidInputException", reason: "INPUT_REQUIRED",
			msg: "You must provide a value for all required parameters: ResourceId."}
	}
	if !targetID.MatchString(id) {
		return nil, &apiError{status: 400, code: "InvalidInputException", reason: "INVALID_PATTERN_TARGET_ID",
			msg: "You provided a value that does not match the required pattern: ResourceId."}
	}
	if _, ok := s.org.Account(id); ok {
		return s.org.Tags(id), nil
	}
	if _, ok := s.org.ouByID[id]; ok || id == s.org.RootID {
		return nil, nil
	}
	return nil, badRequest("TargetNotFoundException", "We can't find a target with the TargetId that you specified.")
}

func (s *Sim) knownParent(id string) *apiError {
	if id == s.org.RootID {
		return nil
	}
	if _, ok := s.org.ouByID[id]; ok {
		return nil
	}
	return badRequest("ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
}

// orgsPage pages a listing of n entries. Like AWS, which may answer an empty
// page whose NextToken is still set, the second page of every listing that
// spans more than one page is empty: clients must loop until the token is
// null, not until a page comes back short or empty.
func (s *Sim) orgsPage(c *call, scope string, n int, maxResults *int, token *string) (start, end int, next *string, aerr *apiError) {
	size := orgsMaxResults
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > orgsMaxResults {
			return 0, 0, nil, &apiError{status: 400, code: "InvalidInputException", reason: "MAX_VALUE_EXCEEDED",
				msg: "You provided a value that exceeds the maximum allowed value: MaxResults must be between 1 and 20."}
		}
		size = *maxResults
	}
	scope = c.op + "|" + scope
	page := 0
	if token != nil {
		var ok bool
		start, page, ok = s.tokens.decode(scope, *token)
		if !ok || start > n {
			return 0, 0, nil, &apiError{status: 400, code: "InvalidInputException", reason: "INVALID_NEXT_TOKEN",
				msg: "The provided pagination token is invalid."}
		}
	}
	if page == 1 {
		t := s.tokens.encode(scope, start, page+1)
		return start, start, &t, nil
	}
	end = min(start+size, n)
	if end < n {
		t := s.tokens.encode(scope, end, page+1)
		next = &t
	}
	return start, end, next, nil
}

func (s *Sim) accountArn(id string) string {
	return "arn:aws:organizations::" + s.org.ManagementAccountID + ":account/" + s.org.ID + "/" + id
}

func (s *Sim) root() orgRoot {
	return orgRoot{
		ID: s.org.RootID, Name: "Root", PolicyTypes: []any{},
		Arn: "arn:aws:organizations::" + s.org.ManagementAccountID + ":root/" + s.org.ID + "/" + s.org.RootID,
	}
}

func (s *Sim) ouJSON(ou OU) orgOU {
	return orgOU{ID: ou.ID, Name: ou.Name, Arn: "arn:aws:organizations::" + s.org.ManagementAccountID + ":ou/" + s.org.ID + "/" + ou.ID}
}

func (s *Sim) accountJSON(a *Account) orgAccount {
	h := fnv.New32a()
	h.Write([]byte(a.ID))
	method := "CREATED"
	if a.ID == s.org.ManagementAccountID || h.Sum32()%5 == 0 {
		method = "INVITED"
	}
	joined := evaluatedAt.AddDate(0, 0, -30-int(h.Sum32()%2000)).Truncate(24 * time.Hour)
	if a.joined > 1 {
		// Joined in the days before the week's results were evaluated.
		joined = evaluatedAt.Add(WeekOffset(a.joined)).AddDate(0, 0, -1-int(h.Sum32()%6)).Truncate(24 * time.Hour)
	}
	return orgAccount{
		ID: a.ID, Arn: s.accountArn(a.ID), Email: a.Email, Name: a.Name,
		Status: a.Status, State: a.Status, JoinedMethod: method, JoinedTimestamp: epochSeconds(joined),
	}
}

// paged adds NextToken to an answer only when there is one: AWS omits it on
// the last page.
func paged(m map[string]any, next *string) map[string]any {
	if next != nil {
		m["NextToken"] = *next
	}
	return m
}
