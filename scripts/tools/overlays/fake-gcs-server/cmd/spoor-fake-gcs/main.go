// Command spoor-fake-gcs is fake-gcs-server (github.com/fsouza/fake-gcs-server,
// the module this file is added to for the build: scripts/tools/fake-gcs.sh)
// with one request added in front of it: the XML API's single-request
// upload, `PUT /BUCKET/OBJECT` with an optional `x-goog-if-generation-match`
// precondition. object_store's GCS client writes every object that way, and
// fake-gcs-server v1.56.1 answers it with 400 "invalid uploadType" (its
// issue 331: the XML API's uploads are not implemented).
//
// The upload is passed on, unchanged in meaning, as the JSON API's media
// upload (`POST /upload/storage/v1/b/BUCKET/o?uploadType=media&name=OBJECT`
// with `ifGenerationMatch=G`), so storing the object and checking the
// precondition (under the backend's lock: 0 means "must not exist") are
// fake-gcs-server's own code. Only its answer is put in the XML API's
// form: no body, the object's new generation in `x-goog-generation` and its
// ETag; a failed precondition stays 412. Every other request (reads, ranges,
// lists, deletes, the JSON API) goes to fake-gcs-server as it came. A copy
// (`x-goog-copy-source`) and the XML multipart upload are not supported and
// are answered 501, so a client that uses them fails loudly.
//
// Flags are fake-gcs-server's own; only `-scheme http` is served.
package main

import (
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/fsouza/fake-gcs-server/internal/config"
)

func main() {
	cfg, err := config.Load(os.Args[1:])
	if err == flag.ErrHelp {
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	if cfg.Scheme != "http" {
		log.Fatal("spoor-fake-gcs serves plain HTTP only: give -scheme http")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	opts := cfg.ToFakeGcsOptions(logger, "http")
	server, err := fakestorage.NewServerWithOptions(opts)
	if err != nil {
		log.Fatalf("cannot start fake-gcs-server: %v", err)
	}
	listener, err := net.Listen("tcp", net.JoinHostPort(opts.Host, fmt.Sprint(opts.Port)))
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		log.Fatal(http.Serve(listener, withXMLUpload(server.HTTPHandler())))
	}()
	logger.Info(fmt.Sprintf("server started at http://%s (fake-gcs-server with the XML API's upload)", listener.Addr()))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}

// The first path segments of fake-gcs-server's own routes, never a bucket.
var ownRoutes = map[string]bool{
	"storage": true, "upload": true, "download": true, "batch": true, "_internal": true,
}

// withXMLUpload answers the XML API's single-request uploads and passes
// everything else to next.
func withXMLUpload(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bucket, object, ok := xmlObject(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("x-goog-copy-source") != "" || r.URL.Query().Has("uploadId") {
			xmlError(w, http.StatusNotImplemented, "NotImplemented",
				"spoor-fake-gcs: copies and XML multipart uploads are not supported")
			return
		}
		query := url.Values{"uploadType": {"media"}, "name": {object}}
		if g := r.Header.Get("x-goog-if-generation-match"); g != "" {
			query.Set("ifGenerationMatch", g)
		}
		inner := r.Clone(r.Context())
		inner.Method = http.MethodPost
		inner.URL = &url.URL{
			Path:     "/upload/storage/v1/b/" + bucket + "/o",
			RawPath:  "/upload/storage/v1/b/" + url.PathEscape(bucket) + "/o",
			RawQuery: query.Encode(),
		}
		inner.RequestURI = inner.URL.RequestURI()
		if inner.Header.Get("Content-Type") == "" {
			inner.Header.Set("Content-Type", "application/octet-stream")
		}
		answer := httptest.NewRecorder()
		next.ServeHTTP(answer, inner)
		if answer.Code != http.StatusOK {
			code := "InternalError"
			switch answer.Code {
			case http.StatusPreconditionFailed:
				code = "PreconditionFailed"
			case http.StatusNotFound:
				code = "NoSuchBucket"
			case http.StatusBadRequest:
				code = "InvalidArgument"
			}
			xmlError(w, answer.Code, code, strings.TrimSpace(answer.Body.String()))
			return
		}
		var stored struct {
			Generation string `json:"generation"`
			Etag       string `json:"etag"`
		}
		if err := json.Unmarshal(answer.Body.Bytes(), &stored); err != nil || stored.Generation == "" {
			xmlError(w, http.StatusInternalServerError, "InternalError",
				fmt.Sprintf("spoor-fake-gcs: unexpected upload answer %q", answer.Body.String()))
			return
		}
		w.Header().Set("x-goog-generation", stored.Generation)
		w.Header().Set("ETag", fmt.Sprintf("%q", stored.Etag))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	})
}

// xmlObject reports whether r is an XML API upload, `PUT /BUCKET/OBJECT`
// without the query of a JSON, resumable or signed upload, and names its
// bucket and (unescaped) object.
func xmlObject(r *http.Request) (bucket, object string, ok bool) {
	if r.Method != http.MethodPut {
		return "", "", false
	}
	q := r.URL.Query()
	if q.Has("uploadType") || q.Has("upload_id") || q.Has("X-Goog-Algorithm") {
		return "", "", false
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return "", "", false
	}
	// Clients escape the path's parts (object_store: the bucket's '-', the
	// object's '/'); the first unescaped '/' ends the bucket.
	rawBucket, rawObject, found := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	bucket, err := url.PathUnescape(rawBucket)
	if err != nil || !found || bucket == "" || rawObject == "" || ownRoutes[bucket] {
		return "", "", false
	}
	object, err = url.PathUnescape(rawObject)
	if err != nil {
		return "", "", false
	}
	return bucket, object, true
}

func xmlError(w http.ResponseWriter, status int, code, message string) {
	body, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: code, Message: message})
	if err != nil {
		body = nil
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}
