// Package awssim simulates the AWS APIs the report reads and no emulator
// here covers: Organizations and Config (JSON 1.1), STS (query/XML) and EC2
// DescribeRegions (EC2's query/XML), served from one http.Handler that
// routes each request by its X-Amz-Target header or its Action and Version
// parameters. Any AWS client pointed at it
// (aws-sdk-go-v2 with BaseEndpoint, the AWS CLI with --endpoint-url) gets the
// real wire formats, the real error codes and real pagination, and requests
// signed with session credentials awssim issued are SigV4-verified.
//
// It is test and demo infrastructure: the demo, the integration tests and
// the benchmarks scan it, and tests check their output against the
// organisation it serves (Sim.Org). It is not a general AWS emulator: only
// the operations and behaviour that AWSSIM.md lists exist, and nothing it
// holds is secret.
package awssim
