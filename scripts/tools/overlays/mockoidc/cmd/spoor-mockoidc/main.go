// Command spoor-mockoidc runs mockoidc (github.com/oauth2-proxy/mockoidc, a
// library) as a standalone OpenID Connect provider for Spoor's tests
// (scripts/tools/mockoidc.sh, crates/spoor/tests/common/oidc.rs).
//
// It listens on -listen (plain HTTP, or HTTPS with -tls-cert/-tls-key),
// with the client id and secret given, and logs in, without a form, the user
// described by -sub, -email, -username, -groups and any number of
// -claim NAME=VALUE (VALUE is JSON when it parses as JSON, else a string);
// the extra claims go into the ID token and the userinfo answer. Tokens are
// RS256 JWTs signed with mockoidc's own key, published at its JWKS URL.
//
// Beside mockoidc's endpoints (under /oidc), two of ours for tests:
//
//	POST /spoor/users  body {"sub","email","username","groups","claims"}:
//	                   the next login is this user (a queue; then the default).
//	POST /spoor/token  body: a JSON object of claims; answers
//	                   {"token": JWT} signed with the provider's key, with
//	                   iss, aud (the client id), sub, iat, nbf and exp
//	                   (now+10m) filled in when the body does not give them
//	                   (a JSON null removes the claim), for bearer-token tests
//	                   that need a token with chosen claims.
//
// Once listening it prints one line on stdout, the issuer URL, and then
// serves until killed.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// user is a mockoidc.User with arbitrary extra claims.
type user struct {
	Subject  string                 `json:"sub"`
	Email    string                 `json:"email"`
	Username string                 `json:"username"`
	Groups   []string               `json:"groups"`
	Extra    map[string]interface{} `json:"claims"`
}

func (u *user) ID() string { return u.Subject }

// scoped returns the standard claims the scopes grant, then the extra ones.
func (u *user) scoped(scopes []string) map[string]interface{} {
	out := map[string]interface{}{"sub": u.Subject}
	for _, s := range scopes {
		switch s {
		case "email":
			if u.Email != "" {
				out["email"] = u.Email
				out["email_verified"] = true
			}
		case "profile":
			if u.Username != "" {
				out["preferred_username"] = u.Username
				out["name"] = u.Username
			}
		case "groups":
			if len(u.Groups) > 0 {
				out["groups"] = u.Groups
			}
		}
	}
	for k, v := range u.Extra {
		out[k] = v
	}
	return out
}

func (u *user) Userinfo(scopes []string) ([]byte, error) {
	return json.Marshal(u.scoped(scopes))
}

func (u *user) Claims(scopes []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	raw, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	claims := jwt.MapClaims{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, err
	}
	for k, v := range u.scoped(scopes) {
		if k == "sub" {
			continue
		}
		claims[k] = v
	}
	return claims, nil
}

type claimFlags map[string]interface{}

func (c claimFlags) String() string { return fmt.Sprint(map[string]interface{}(c)) }

func (c claimFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	var v interface{}
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		v = value
	}
	c[name] = v
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	clientID := flag.String("client-id", "spoor", "OAuth2 client id")
	clientSecret := flag.String("client-secret", "spoor-secret", "OAuth2 client secret")
	tlsCert := flag.String("tls-cert", "", "PEM certificate chain: serve HTTPS")
	tlsKey := flag.String("tls-key", "", "PEM private key of -tls-cert")
	accessTTL := flag.Duration("access-ttl", 10*time.Minute, "lifetime of access and ID tokens")
	def := &user{Extra: map[string]interface{}{}}
	flag.StringVar(&def.Subject, "sub", "jane", "the user's subject (sub)")
	flag.StringVar(&def.Email, "email", "jane@example.com", "the user's email (scope email)")
	flag.StringVar(&def.Username, "username", "jane", "the user's preferred_username (scope profile)")
	groups := flag.String("groups", "", "the user's groups, comma-separated (scope groups)")
	flag.Var(claimFlags(def.Extra), "claim", "extra claim NAME=VALUE (JSON or string), repeatable")
	flag.Parse()
	if *groups != "" {
		def.Groups = strings.Split(*groups, ",")
	}

	m, err := mockoidc.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	m.ClientID, m.ClientSecret, m.AccessTTL = *clientID, *clientSecret, *accessTTL

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	var tlsConfig *tls.Config
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			log.Fatal(err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, tlsConfig)
	}

	// mockoidc's server only takes middleware: ours answers /spoor/*, and
	// queues the configured user before each login that has none queued.
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				m.UserQueue.Lock()
				empty := len(m.UserQueue.Queue) == 0
				m.UserQueue.Unlock()
				if empty {
					m.QueueUser(def)
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// mockoidc's mux only routes its own paths: its server is wrapped for
	// ours before it accepts its first connection (the gate).
	gate := &gatedListener{Listener: ln, open: make(chan struct{})}
	if err := m.Start(gate, tlsConfig); err != nil {
		log.Fatal(err)
	}
	mux := m.Server.Handler
	m.Server.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/spoor/users":
			queueUser(m, w, r)
		case "/spoor/token":
			mintToken(m, w, r)
		default:
			mux.ServeHTTP(w, r)
		}
	})
	close(gate.open)
	fmt.Println(m.Issuer())
	log.Printf("spoor-mockoidc: issuer %s, client id %s", m.Issuer(), m.ClientID)
	select {}
}

// gatedListener holds Accept until open is closed.
type gatedListener struct {
	net.Listener
	open chan struct{}
}

func (g *gatedListener) Accept() (net.Conn, error) {
	<-g.open
	return g.Listener.Accept()
}

func queueUser(m *mockoidc.MockOIDC, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	u := &user{}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(u); err != nil || u.Subject == "" {
		http.Error(w, "want a JSON user with a sub", http.StatusBadRequest)
		return
	}
	m.QueueUser(u)
	w.WriteHeader(http.StatusNoContent)
}

func mintToken(m *mockoidc.MockOIDC, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	given := map[string]interface{}{}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&given); err != nil {
		http.Error(w, "want a JSON object of claims", http.StatusBadRequest)
		return
	}
	now := m.Now()
	claims := jwt.MapClaims{
		"iss": m.Issuer(),
		"aud": m.ClientID,
		"sub": "jane",
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(m.AccessTTL).Unix(),
	}
	for k, v := range given {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	token, err := m.Keypair.SignJWT(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": token})
}
