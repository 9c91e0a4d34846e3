package main

import (
	"context"
	"fmt"
	"net/http"
)

type post struct{ req *http.Request }

func newPost(ctx context.Context, url string) (post, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	return post{req}, err
}

// do sends the request on a client of its own, apart from the measured client's pool.
func (p post) do() (int, error) {
	resp, err := (&http.Client{}).Do(p.req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.req.URL.Path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
