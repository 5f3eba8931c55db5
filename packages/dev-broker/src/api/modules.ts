// Every API module the broker serves; ApiVersions advertises exactly these.

import type { ApiModule } from '../registry.js'
import { dataApis } from './data-apis.js'
import { groupApis } from './group-apis.js'

export const allApis: readonly ApiModule[] = [...dataApis, ...groupApis]
