package bench

// WebhookBody is a Clerk user.updated event as Clerk sends it (about
// 1.7 KB, with the fields usersync ignores, since it stores the whole body):
// a format for fmt with the user's number, data.updated_at and the envelope
// timestamp in Unix ms, and a number for the last name.
const WebhookBody = `{"data":{"backup_code_enabled":false,"banned":false,"create_organization_enabled":true,` +
	`"created_at":1654012591514,"delete_self_enabled":true,"email_addresses":[{"created_at":1654012591514,` +
	`"email_address":"bench_%[1]d@example.com","id":"idn_bench%[1]d","linked_to":[],"object":"email_address",` +
	`"reserved":false,"updated_at":1654012591835,"verification":{"attempts":null,"expire_at":null,` +
	`"status":"verified","strategy":"email_code"}}],"external_accounts":[],"external_id":null,` +
	`"first_name":"Bench","has_image":true,"id":"user_bench_%[1]d","image_url":"https://img.clerk.com/` +
	`eyJ0eXBlIjoicHJveHkiLCJzcmMiOiJodHRwczovL2ltYWdlcy5jbGVyay5kZXYvb2F1dGhfZ2l0aHViL2ltZ18yOVJUbXF6R0RqdEhGR2RhbkZBVFVtOHE1SlciLCJyZWRpcmVjdF91cmwiOm51bGx9",` +
	`"last_active_at":1654012591514,"last_name":"User %[3]d","last_sign_in_at":1654012591514,"legal_accepted_at":null,` +
	`"locked":false,"lockout_expires_in_seconds":null,"mfa_disabled_at":null,"mfa_enabled_at":null,"object":"user",` +
	`"passkeys":[],"password_enabled":true,"phone_numbers":[],"primary_email_address_id":"idn_bench%[1]d",` +
	`"primary_phone_number_id":null,"primary_web3_wallet_id":null,"private_metadata":{},` +
	`"profile_image_url":"https://www.gravatar.com/avatar?d=mp","public_metadata":{},"saml_accounts":[],` +
	`"totp_enabled":false,"two_factor_enabled":false,"unsafe_metadata":{},"updated_at":%[2]d,"username":null,` +
	`"verification_attempts_remaining":100,"web3_wallets":[]},"event_attributes":{"http_request":{` +
	`"client_ip":"203.0.113.7","user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) ` +
	`AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"}},"instance_id":"ins_2bench","object":"event",` +
	`"timestamp":%[2]d,"type":"user.updated"}`
