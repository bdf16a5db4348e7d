package awserr

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// attemptsError carries how many attempts the SDK's retry loop made for the
// operation that returned Err. Its text is Err's: it adds a fact, not words.
type attemptsError struct {
	n   int
	err error
}

func (e *attemptsError) Error() string { return e.err.Error() }
func (e *attemptsError) Unwrap() error { return e.err }

// Attempts returns how many attempts (retries included) the SDK made before
// returning err, or 0 when err does not say. It is known for every error of
// a client whose stack carries AddAttemptCount (internal/awsconf installs
// it); otherwise only for errors that exhausted their attempts
// (retry.MaxAttemptsError).
func Attempts(err error) int {
	var ae *attemptsError
	if errors.As(err, &ae) {
		return ae.n
	}
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		return me.Attempt
	}
	return 0
}

// AddAttemptCount is an aws.Config APIOptions entry: it records, on every
// error an operation returns, how many attempts its retry loop made, so that
// Attempts can answer for errors the retryer did not retry (a permanent
// error: 1) or retried and then gave up on for another reason.
//
// The SDK returns attempt results in the operation's middleware metadata
// (retry.GetAttemptResults), which a caller never sees when the operation
// fails; this middleware sits just outside the retry loop in the Finalize
// step, reads them and attaches the count to the error.
func AddAttemptCount(stack *middleware.Stack) error {
	const id = "awserr.AttemptCount"
	if _, ok := stack.Finalize.Get(id); ok {
		return nil
	}
	mw := middleware.FinalizeMiddlewareFunc(id, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		if err != nil {
			if res, ok := retry.GetAttemptResults(md); ok && len(res.Results) > 0 {
				err = &attemptsError{n: len(res.Results), err: err}
			}
		}
		return out, md, err
	})
	if _, ok := stack.Finalize.Get("Retry"); ok {
		return stack.Finalize.Insert(mw, "Retry", middleware.Before)
	}
	return stack.Finalize.Add(mw, middleware.Before)
}
