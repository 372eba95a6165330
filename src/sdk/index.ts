export { openAgentState, type OpenedAgentState } from './open.js';
export { PROJECTOR_VARIABLE, type OpenAgentStateOptions, type ProjectorMode, type ServerOptions } from './options.js';
export { subscribeStates, type StateTopicSource, type SubscribedState, type SubscribeHandlerOptions, type SubscribeOptions } from './subscribe.js';
export { openLog, openSinks, type LogSettings, type OpenedLog, type OpenedSinks, type SinkSettings } from './wiring.js';
