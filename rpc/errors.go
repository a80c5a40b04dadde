package rpc

import "fmt"

// Error codes. They are Bitcoin Core's (src/rpc/protocol.h), so that scripts and
// libraries written against Core read Quarry's errors the same way.
const (
	// Standard JSON-RPC 2.0 errors.
	CodeInvalidRequest = -32600 // the request is not a valid request object
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603 // a bug on the server side, such as a handler panic
	CodeParse          = -32700 // the body is not valid JSON

	// General application errors.
	CodeMisc                 = -1 // a handler failed with an error that is not an *Error
	CodeType                 = -3 // a parameter has the wrong JSON type
	CodeInvalidAddressOrKey  = -5 // also: unknown block or transaction
	CodeOutOfMemory          = -7
	CodeInvalidParameter     = -8 // a parameter has the right type but a bad value, or is unknown or duplicated
	CodeDatabase             = -20
	CodeDeserialization      = -22 // hex or consensus encoding that does not decode
	CodeVerify               = -25 // a transaction or block failed validation
	CodeVerifyRejected       = -26 // a transaction was rejected by mempool policy
	CodeVerifyAlreadyInChain = -27
	CodeInWarmup             = -28 // the node is still starting
	CodeMethodDeprecated     = -32

	// Peer-to-peer errors.
	CodeClientNotConnected        = -9
	CodeClientInInitialDownload   = -10
	CodeClientNodeAlreadyAdded    = -23
	CodeClientNodeNotAdded        = -24
	CodeClientNodeNotConnected    = -29
	CodeClientInvalidIPOrSubnet   = -30
	CodeClientP2PDisabled         = -31
	CodeClientNodeCapacityReached = -34
)

// codeNames documents the codes in the generated reference; keep it in step with the
// constants above.
var codeNames = []struct {
	code int
	name string
	desc string
}{
	{CodeParse, "RPC_PARSE_ERROR", "The request body is not valid JSON."},
	{CodeInvalidRequest, "RPC_INVALID_REQUEST", "The JSON is not a valid request object, or the batch is empty."},
	{CodeMethodNotFound, "RPC_METHOD_NOT_FOUND", "No method by that name."},
	{CodeInvalidParams, "RPC_INVALID_PARAMS", "Invalid method parameters."},
	{CodeInternal, "RPC_INTERNAL_ERROR", "An internal error in the node (a bug); details are in the node's log."},
	{CodeMisc, "RPC_MISC_ERROR", "A failure without a more specific code; also a missing required parameter or too many parameters."},
	{CodeType, "RPC_TYPE_ERROR", "A parameter has the wrong JSON type."},
	{CodeInvalidAddressOrKey, "RPC_INVALID_ADDRESS_OR_KEY", "Invalid address, or unknown block or transaction."},
	{CodeOutOfMemory, "RPC_OUT_OF_MEMORY", "The node ran out of memory during the call."},
	{CodeInvalidParameter, "RPC_INVALID_PARAMETER", "A parameter has a bad value, is unknown, or is given twice."},
	{CodeClientNotConnected, "RPC_CLIENT_NOT_CONNECTED", "The node has no connected peers."},
	{CodeClientInInitialDownload, "RPC_CLIENT_IN_INITIAL_DOWNLOAD", "The node is still catching up with the network."},
	{CodeDatabase, "RPC_DATABASE_ERROR", "A database error."},
	{CodeDeserialization, "RPC_DESERIALIZATION_ERROR", "Hex or a consensus encoding that does not decode."},
	{CodeClientNodeAlreadyAdded, "RPC_CLIENT_NODE_ALREADY_ADDED", "The peer was already added."},
	{CodeClientNodeNotAdded, "RPC_CLIENT_NODE_NOT_ADDED", "The peer was not added."},
	{CodeVerify, "RPC_VERIFY_ERROR", "A transaction or block failed validation."},
	{CodeVerifyRejected, "RPC_VERIFY_REJECTED", "A transaction or block was rejected by policy."},
	{CodeVerifyAlreadyInChain, "RPC_VERIFY_ALREADY_IN_CHAIN", "The transaction is already in the chain."},
	{CodeInWarmup, "RPC_IN_WARMUP", "The node is still starting up."},
	{CodeClientNodeNotConnected, "RPC_CLIENT_NODE_NOT_CONNECTED", "The peer is not connected."},
	{CodeClientInvalidIPOrSubnet, "RPC_CLIENT_INVALID_IP_OR_SUBNET", "Invalid peer address."},
	{CodeClientP2PDisabled, "RPC_CLIENT_P2P_DISABLED", "Peer-to-peer networking is disabled."},
	{CodeMethodDeprecated, "RPC_METHOD_DEPRECATED", "The method is deprecated."},
	{CodeClientNodeCapacityReached, "RPC_CLIENT_NODE_CAPACITY_REACHED", "The node has no room for another peer."},
}

// Error is a JSON-RPC error object. Handlers return it to choose the code a caller
// sees; the client returns it for every error reply of the server.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (rpc error %d)", e.Message, e.Code)
}
