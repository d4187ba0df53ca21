/** The engine on the CPU backend with a tiny model: batching, preemption, prefix reuse and seeds change nothing. */
import { engineScenarios } from "./engine_scenarios";

engineScenarios("LLMEngine on the CPU backend", "cpu");
