// Command baseline is the least Lambda function behind API Gateway: it
// decodes the HTTP API event with aws-lambda-go and answers 200 without
// verifying anything. examples/lambda/coldstart measures it beside the
// verifying functions to show what aws-lambda-go itself weighs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: e.RequestContext.HTTP.SourceIP}, nil
	})
}
