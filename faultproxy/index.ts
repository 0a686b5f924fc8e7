export { startFaultProxy, FaultProxyError, type FaultProxyHandle, type FaultProxyOptions } from './server.ts';
export {
  FaultClient,
  FaultProxyClientError,
  resolveToxiproxyUrl,
  toClientError,
  type ProxyBody,
  type ProxyInfo,
  type ToxicBody,
  type ToxicInfo,
  type UdpImpairmentPatch,
  type UdpRelayInfo,
} from './client.ts';
export { TOXIC_TYPES, type ToxicType, type StreamDirection } from './toxics.ts';
export { Impairer, NO_IMPAIRMENTS, type Impairments } from './impairer.ts';
export { TOXIPROXY_VERSION } from './api.ts';
