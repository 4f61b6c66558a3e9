package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeNetworks runs writ serve as a real process, with 127.0.0.2 as
// a trusted proxy, and calls it from 127.0.0.1 as curl would: admin
// tokens bound to 127.0.0.0/8 are accepted, those bound to 10.0.0.0/8
// refused, also when the caller (not a trusted proxy) claims a 10.x
// address in X-Forwarded-For; from the trusted proxy's address, the
// client its header names decides. A token issued through the API with
// "allowed_ips" is bound, as whoami shows.
func TestServeNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	const iss = "http://writ.test"
	cmd := writProcess(t, dir, "serve", "--addr", "127.0.0.1:0", "--refresh", "100ms", "--issuer", iss, "--trusted-proxy", "127.0.0.2")
	base := waitListening(t, cmd)
	adminFor := func(cidr string) string {
		return runWrit(t, dir, "token", "issue", "--issuer", iss, "--subject", "admin", "--audience", iss, "--scope", "writ:admin", "--allow-ip", cidr)
	}
	loopback, tenNet := adminFor("127.0.0.0/8"), adminFor("10.0.0.0/8")

	// call sends a request from local (the client's address, on loopback)
	// and returns its status, WWW-Authenticate and body.
	call := func(local, method, path, token, body string, hdr ...string) (int, string, string) {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
		client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
	}
	const refused = `error="invalid_token", error_description="client address not allowed"`
	for _, tc := range []struct {
		name, from, token string
		hdr               []string
		status            int
	}{
		{"bound to loopback", "127.0.0.1", loopback, nil, 200},
		{"bound to 10/8", "127.0.0.1", tenNet, nil, 401},
		{"bound to 10/8, spoofed X-Forwarded-For", "127.0.0.1", tenNet, []string{"X-Forwarded-For", "10.1.2.3"}, 401},
		{"bound to 10/8, spoofed Forwarded", "127.0.0.1", tenNet, []string{"Forwarded", "for=10.1.2.3"}, 401},
		{"bound to 10/8, via the trusted proxy", "127.0.0.2", tenNet, []string{"X-Forwarded-For", "10.1.2.3"}, 200},
		{"bound to loopback, via the trusted proxy from outside", "127.0.0.2", loopback, []string{"Forwarded", `for="[2001:db8::1]:4711"`}, 401},
		{"via the trusted proxy, malformed header", "127.0.0.2", loopback, []string{"X-Forwarded-For", "not an address"}, 400},
	} {
		for _, path := range []string{"/v1/tokens", "/v1/whoami"} {
			code, challenge, _ := call(tc.from, "GET", path, tc.token, "", tc.hdr...)
			if code != tc.status || code == 401 && !strings.Contains(challenge, refused) {
				t.Errorf("%s: GET %s: %d %q, want %d", tc.name, path, code, challenge, tc.status)
			}
		}
	}

	// Issued through the API, bound to 10.0.0.0/8: refused from 127.0.0.1,
	// accepted through the trusted proxy for 10.9.9.9.
	code, _, body := call("127.0.0.1", "POST", "/v1/tokens", loopback, `{"subject":"admin2","audience":["`+iss+`"],"scopes":["writ:admin"],"allowed_ips":["10.0.0.0/8"]}`)
	var issued struct{ Token string }
	if err := json.Unmarshal([]byte(body), &issued); err != nil || code != 201 {
		t.Fatalf("issue with allowed_ips through the API: %d %v", code, err)
	}
	if code, challenge, _ := call("127.0.0.1", "GET", "/v1/whoami", issued.Token, ""); code != 401 || !strings.Contains(challenge, refused) {
		t.Errorf("API-issued token bound to 10/8 from 127.0.0.1: %d %q", code, challenge)
	}
	if code, _, body := call("127.0.0.2", "GET", "/v1/whoami", issued.Token, "", "X-Forwarded-For", "10.9.9.9"); code != 200 || !strings.Contains(body, `"allowed_ips":["10.0.0.0/8"]`) {
		t.Errorf("API-issued token bound to 10/8 through the proxy for 10.9.9.9: %d %s", code, body)
	}
	if code, _, _ := call("127.0.0.1", "POST", "/v1/tokens", loopback, `{"subject":"x","audience":["a"],"allowed_ips":["10.0.0.0/33"]}`); code != 400 {
		t.Errorf("a bad allowed_ips: %d, want 400", code)
	}
}
