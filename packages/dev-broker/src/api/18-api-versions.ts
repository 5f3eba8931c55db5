// ApiVersions: which API keys and version ranges this broker implements, straight from the registry.
//
// ApiVersions Request (Version: 0-2) =>
// ApiVersions Request (Version: 3) => client_software_name client_software_version TAG_BUFFER
//   client_software_name => COMPACT_STRING
//   client_software_version => COMPACT_STRING
// ApiVersions Response (Version: 0) => error_code [api_keys]
//   api_keys => api_key min_version max_version
// ApiVersions Response (Version: 1-2) => error_code [api_keys] throttle_time_ms
// ApiVersions Response (Version: 3) => error_code [api_keys TAG_BUFFER] throttle_time_ms TAG_BUFFER
// The response header is always v0, even for the flexible v3 (the client cannot know our versions yet).

import type { ApiModule } from '../registry.js'

export const apiVersions: ApiModule = {
  apiKey: 18,
  name: 'ApiVersions',
  minVersion: 0,
  maxVersion: 3,
  flexibleFrom: 3,
  handle(r, w, ctx) {
    const f = ctx.flexible
    if (f) {
      r.compactString()
      r.compactString()
      r.taggedFields()
    }
    w.int16(ctx.injectedError ?? 0)
    w.array(f, ctx.apis.versions(), (w, v) => {
      w.int16(v.apiKey).int16(v.minVersion).int16(v.maxVersion).tags(f)
    })
    if (ctx.version >= 1) w.int32(0)
    w.tags(f)
  },
}
