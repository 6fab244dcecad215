package emulator

import (
	"encoding/xml"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

const snsXMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"

type snsResponseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type confirmSubscriptionResponse struct {
	XMLName          xml.Name            `xml:"ConfirmSubscriptionResponse"`
	XMLNS            string              `xml:"xmlns,attr"`
	SubscriptionArn  string              `xml:"ConfirmSubscriptionResult>SubscriptionArn"`
	ResponseMetadata snsResponseMetadata `xml:"ResponseMetadata"`
}

type unsubscribeResponse struct {
	XMLName          xml.Name            `xml:"UnsubscribeResponse"`
	XMLNS            string              `xml:"xmlns,attr"`
	ResponseMetadata snsResponseMetadata `xml:"ResponseMetadata"`
}

type snsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	XMLNS   string   `xml:"xmlns,attr"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
}

// snsAction answers SubscribeURL and UnsubscribeURL the way SNS's query API does.
func (e *Emulator) snsAction(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reqID := e.market.RequestID()
	switch q.Get("Action") {
	case "ConfirmSubscription":
		s, err := e.market.ConfirmSubscription(r.Context(), q.Get("TopicArn"), q.Get("Token"))
		if err != nil {
			writeSNSError(w, err)
			return
		}
		writeXML(w, http.StatusOK, confirmSubscriptionResponse{XMLNS: snsXMLNS, SubscriptionArn: s.ARN, ResponseMetadata: snsResponseMetadata{reqID}})
	case "Unsubscribe":
		if err := e.market.Unsubscribe(r.Context(), q.Get("SubscriptionArn")); err != nil {
			writeSNSError(w, err)
			return
		}
		writeXML(w, http.StatusOK, unsubscribeResponse{XMLNS: snsXMLNS, ResponseMetadata: snsResponseMetadata{reqID}})
	default:
		writeXML(w, http.StatusBadRequest, snsErrorResponse{XMLNS: snsXMLNS, Type: "Sender", Code: "InvalidAction", Message: "The action " + q.Get("Action") + " is not valid for this endpoint."})
	}
}

func writeSNSError(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "InternalError"
	if market.IsKind(err, market.KindNotFound) {
		status, code = http.StatusNotFound, "NotFound"
	}
	writeXML(w, status, snsErrorResponse{XMLNS: snsXMLNS, Type: "Sender", Code: code, Message: err.Error()})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header)) //nolint:errcheck // the client went away
	xml.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

func (e *Emulator) signingCert(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(e.market.SigningCertificatePEM()) //nolint:errcheck // the client went away
}
