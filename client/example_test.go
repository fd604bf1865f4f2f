package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/userimport/userimport/client"
)

// Upload a file, follow it to the end, and save its error report.
func Example() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("USERIMPORT_API"), client.WithToken(os.Getenv("USERIMPORT_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	im, err := c.UploadFile(ctx, "users.csv", client.ImportOptions{Notify: []string{"hr@acme.example"}})
	if err != nil {
		log.Fatal(err)
	}
	im, err = c.Wait(ctx, im.ID, client.WaitOptions{Progress: func(im client.Import) {
		log.Printf("import %d %s: %d%%", im.ID, im.State, im.Progress)
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("import %d %s: %d created, %d updated, %d rejected\n", im.ID, im.State, im.Created, im.Updated, im.Rejected)
	if !im.HasReport() {
		return
	}
	report, err := c.Errors(ctx, im.ID)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create("users.errors.csv")
	if err == nil {
		_, err = io.Copy(f, report)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	report.Close()
	if err != nil {
		log.Fatal(err)
	}
}

// Import a file a job already put in the bucket, under the tenant's
// incoming/ prefix, as a dry run: nothing is written, the counts say what
// the import would do.
func ExampleClient_ImportObject() {
	ctx := context.Background()
	c, err := client.New("https://import.example.com", client.WithToken(os.Getenv("USERIMPORT_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	im, err := c.ImportObject(ctx, "s3://userimport/incoming/acme/users.csv", client.ImportOptions{DryRun: true})
	if err != nil {
		log.Fatal(err)
	}
	// Poll every second at first, then less often while nothing changes.
	if im, err = c.Wait(ctx, im.ID, client.WaitOptions{Interval: time.Second, MaxInterval: 30 * time.Second}); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("would create %d, update %d; reject %d\n", im.Created, im.Updated, im.Rejected)
}

// Retry the rejected records once their cause is fixed; an import with
// nothing to retry is an answer, not a failure.
func ExampleClient_Retry() {
	ctx := context.Background()
	c, err := client.New("https://import.example.com", client.WithToken(os.Getenv("USERIMPORT_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	im, err := c.Retry(ctx, 42)
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == client.CodeNothingToRetry:
		fmt.Println("nothing to retry:", apiErr.Message)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("retry queued as import", im.ID)
	}
}

// Every answer other than success is an *Error with the API's status, code
// and message.
func ExampleError() {
	// A stand-in for the producer, answering as it does for a missing import.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no such import"}}`)
	}))
	defer api.Close()

	c, err := client.New(api.URL, client.WithToken("uit_example"))
	if err != nil {
		panic(err)
	}
	_, err = c.Import(context.Background(), 99)
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, apiErr.Message)
	}
	fmt.Println(errors.Is(err, client.ErrNotFound))
	fmt.Println(err)
	// Output:
	// 404 not_found no such import
	// true
	// GET /v1/imports/99: 404 not_found: no such import
}
