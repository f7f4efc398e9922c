package config

import (
	"reflect"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	cases := []struct {
		name, toml string
		want       []string
		problems   []string
	}{
		{"none", "", nil, nil},
		{"ips and cidrs", "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n",
			[]string{"127.0.0.1", "10.0.0.0/8", "::1"}, nil},
		{"not an address", "[server]\ntrusted_proxies = [\"127.0.0.1\", \"proxy.local\"]\n", nil,
			[]string{`F:2:19: server.trusted_proxies: "proxy.local" is not an IP address or CIDR`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.toml)
			cfg, err := Load(path)
			if got := problems(path, err); !reflect.DeepEqual(got, tc.problems) {
				t.Fatalf("problems %q, want %q", got, tc.problems)
			}
			if err == nil && !reflect.DeepEqual(cfg.Server.TrustedProxies, tc.want) {
				t.Fatalf("trusted_proxies = %q, want %q", cfg.Server.TrustedProxies, tc.want)
			}
		})
	}
}
