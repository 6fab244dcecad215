package config

import (
	"flag"
	"strings"
	"testing"
)

func TestMail_Validate(t *testing.T) {
	tests := []struct {
		name, url, from string
		want            []string // substrings of the error; none means valid
	}{
		{"dev mailbox", "", DefaultMailFrom, nil},
		{"starttls with auth", "smtp://user:pa%40ss@mail.example.com:587", "a@example.com", nil},
		{"implicit tls default port", "smtps://mail.example.com", DefaultMailFrom, nil},
		{"wrong scheme", "http://user:hunter2@mail.example.com", DefaultMailFrom, []string{`--smtp-url: scheme "http"`}},
		{"no host", "smtp://", DefaultMailFrom, []string{"needs a host"}},
		{"bad port", "smtp://mail.example.com:99999", DefaultMailFrom, []string{"port"}},
		{"path", "smtp://mail.example.com/x", DefaultMailFrom, []string{"path"}},
		{"unparsable keeps password out", "smtp://user:hunter2@mail example.com", DefaultMailFrom, []string{"--smtp-url: not a URL"}},
		{"bad from", "", "no-reply", []string{"--mail-from"}},
		{"all at once", "ftp://x", "", []string{"--smtp-url", "--mail-from"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Mail{SMTPURL: tt.url, From: tt.from}.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		url  string
		want SMTPServer
	}{
		{"smtp://mail.example.com", SMTPServer{Host: "mail.example.com", Port: 587}},
		{"smtps://mail.example.com", SMTPServer{Host: "mail.example.com", Port: 465, ImplicitTLS: true}},
		{"smtp://u%40x:p%3Aw@127.0.0.1:2525/", SMTPServer{Host: "127.0.0.1", Port: 2525, Username: "u@x", Password: "p:w"}},
	}
	for _, tt := range tests {
		got, err := ParseSMTPURL(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("ParseSMTPURL(%q) = %+v, %v; want %+v", tt.url, got, err, tt.want)
		}
	}
}

func TestMail_BindDefaults(t *testing.T) {
	var m Mail
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	m.Bind(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if !m.DevMailbox() || m.From != DefaultMailFrom {
		t.Fatalf("defaults = %+v, want the dev mailbox and %q", m, DefaultMailFrom)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}
