// Command benchhello is the yardstick of the Forwarder's cold start: the smallest Lambda of
// the same shape (an SQS event in, an empty partial-batch response out), built with the
// Forwarder's flags and started by benchcold under the same emulator in the same run, so
// the ratio of the two says what the Forwarder's own start costs beyond the Go runtime,
// the Lambda runtime client and the emulator.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	})
}
