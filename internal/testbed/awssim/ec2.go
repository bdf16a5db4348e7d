package awssim

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// EC2 speaks its own query protocol: form-encoded requests like STS's, but
// answers whose root is <Action>Response in EC2's namespace with the
// request id first and lists of <item>, and errors in a Response/Errors
// shape. The one operation served is DescribeRegions, which a scanner asks
// to learn the opt-in regions an account has not enabled.

const (
	ec2Version = "2016-11-15"
	ec2XMLNS   = "http://ec2.amazonaws.com/doc/2016-11-15/"
)

// standardRegions are the regions AWS enables in every account (opt-in not
// required), and optInRegions those an account must enable first, as AWS
// lists them. DescribeRegions with AllRegions answers both, plus any other
// region an org is configured with.
var (
	standardRegions = []string{
		"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
		"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
		"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	}
	optInRegions = []string{
		"af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
		"ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1",
		"eu-south-2", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
	}
)

// IsOptInRegion reports whether region is one AWS leaves disabled until an
// account opts in (ap-east-1, af-south-1, ...).
func IsOptInRegion(region string) bool {
	_, ok := slices.BinarySearch(optInRegions, region)
	return ok
}

// knownRegions is every region DescribeRegions can answer for org: the
// standard and opt-in regions plus those its accounts list, sorted.
func knownRegions(o *Org) []string {
	out := slices.Concat(standardRegions, optInRegions)
	for _, a := range o.Accounts {
		out = append(out, a.Regions...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// regionInfo is one <item> of DescribeRegions.
type regionInfo struct {
	name, optIn string
}

type describeRegionsOutput struct {
	regions []regionInfo
}

// ec2Filter is one Filter.N of a describe request: the values are ORed,
// the filters ANDed.
type ec2Filter struct {
	name   string
	values []string
}

func (s *Sim) ec2(c *call) (any, *apiError) {
	switch c.op {
	case "DescribeRegions":
		return s.describeRegions(c)
	}
	return nil, badRequest("InvalidAction", "The action "+c.op+" is not valid for this web service.")
}

func (s *Sim) describeRegions(c *call) (any, *apiError) {
	all, aerr := ec2Bool(c.form, "AllRegions")
	if aerr != nil {
		return nil, aerr
	}
	dryRun, aerr := ec2Bool(c.form, "DryRun")
	if aerr != nil {
		return nil, aerr
	}
	names := ec2List(c.form, "RegionName")
	filters, aerr := ec2Filters(c.form)
	if aerr != nil {
		return nil, aerr
	}
	for _, f := range filters {
		switch f.name {
		case "endpoint", "opt-in-status", "region-name":
		default:
			return nil, badRequest("InvalidParameterValue", "The filter '"+f.name+"' is invalid")
		}
	}
	known := s.regions
	for _, n := range names {
		if _, ok := slices.BinarySearch(known, n); !ok {
			return nil, badRequest("InvalidParameterValue", "Invalid region: "+n)
		}
	}
	if dryRun {
		return nil, &apiError{status: http.StatusPreconditionFailed, code: "DryRunOperation", msg: "Request would have succeeded, but DryRun flag is set."}
	}
	account := c.id.account
	out := describeRegionsOutput{regions: []regionInfo{}}
	for _, r := range known {
		st := s.org.OptInStatus(account, r)
		switch {
		case len(names) > 0:
			// Named regions are answered whether enabled or not, as AWS
			// documents RegionNames.
			if !slices.Contains(names, r) {
				continue
			}
		case !all && st == NotOptedIn:
			continue
		}
		ri := regionInfo{name: r, optIn: st}
		if !matchFilters(filters, ri) {
			continue
		}
		out.regions = append(out.regions, ri)
	}
	return out, nil
}

func matchFilters(filters []ec2Filter, ri regionInfo) bool {
	for _, f := range filters {
		var v string
		switch f.name {
		case "endpoint":
			v = ec2Endpoint(ri.name)
		case "opt-in-status":
			v = ri.optIn
		case "region-name":
			v = ri.name
		}
		if !slices.ContainsFunc(f.values, func(p string) bool { return ec2Match(p, v) }) {
			return false
		}
	}
	return true
}

// ec2Match matches a filter value as EC2 does: * for any run of
// characters, ? for one.
func ec2Match(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if ec2Match(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && ec2Match(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && ec2Match(pattern[1:], s[1:])
}

// signingService is the service of the request's SigV4 credential scope.
func signingService(r *http.Request) string {
	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return ""
	}
	return a.service
}

func ec2Endpoint(region string) string { return "ec2." + region + ".amazonaws.com" }

// ec2Bool reads a boolean parameter, false when absent.
func ec2Bool(form map[string][]string, name string) (bool, *apiError) {
	v := first(form[name])
	switch strings.ToLower(v) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest("InvalidParameterValue", "Value ("+v+") for parameter "+name+" is invalid. Expected: 'true' or 'false'.")
}

// ec2List reads a list parameter, Name.1, Name.2, ..., in index order.
func ec2List(form map[string][]string, name string) []string {
	type entry struct {
		i int
		v string
	}
	var es []entry
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(rest); err == nil && i > 0 {
			es = append(es, entry{i, first(v)})
		}
	}
	slices.SortFunc(es, func(x, y entry) int { return x.i - y.i })
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.v)
	}
	return out
}

// ec2Filters reads Filter.N.Name and Filter.N.Value.M.
func ec2Filters(form map[string][]string) ([]ec2Filter, *apiError) {
	idx := map[int]bool{}
	for k := range form {
		rest, ok := strings.CutPrefix(k, "Filter.")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 {
			return nil, badRequest("InvalidParameterValue", "The parameter "+k+" is not recognized")
		}
		idx[i] = true
	}
	var out []ec2Filter
	for _, i := range slices.Sorted(maps.Keys(idx)) {
		p := "Filter." + strconv.Itoa(i) + "."
		name := first(form[p+"Name"])
		if name == "" {
			return nil, badRequest("InvalidParameterValue", "The filter "+p+"Name is missing")
		}
		out = append(out, ec2Filter{name: name, values: ec2List(form, p+"Value")})
	}
	return out, nil
}

func (o describeRegionsOutput) appendXML(dst []byte) []byte {
	dst = append(dst, "<regionInfo>"...)
	for _, r := range o.regions {
		dst = append(dst, "<item><regionName>"...)
		dst = appendXMLText(dst, r.name)
		dst = append(dst, "</regionName><regionEndpoint>"...)
		dst = appendXMLText(dst, ec2Endpoint(r.name))
		dst = append(dst, "</regionEndpoint><optInStatus>"...)
		dst = appendXMLText(dst, r.optIn)
		dst = append(dst, "</optInStatus></item>"...)
	}
	return append(dst, "</regionInfo>"...)
}

// writeEC2Result answers as EC2 does: the XML declaration, the response
// element in EC2's namespace, requestId first, then the result's members
// directly (no Result wrapper, no ResponseMetadata).
func writeEC2Result(w http.ResponseWriter, op string, result xmlAppender, reqID string) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(*buf, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<`+op+`Response xmlns="`+ec2XMLNS+`"><requestId>`...)
	b = appendXMLText(b, reqID)
	b = append(b, `</requestId>`...)
	b = result.appendXML(b)
	b = append(b, `</`+op+`Response>`...)
	*buf = b[:0]
	writeBody(w, hdrXML, reqID, b)
}
