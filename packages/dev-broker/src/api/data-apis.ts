// Data-path, admin and transaction API modules: everything except consumer groups.

import type { ApiModule } from '../registry.js'
import { apiVersions } from './18-api-versions.js'

export const dataApis: readonly ApiModule[] = [apiVersions]
