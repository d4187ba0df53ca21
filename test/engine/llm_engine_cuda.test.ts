/** The engine scenarios of llm_engine.test.ts on the CUDA backend, against CUDA solo runs. Skips without CUDA. */
import { cudaAvailable } from "../../src/backend/select";
import { engineScenarios } from "./engine_scenarios";

engineScenarios("LLMEngine on the CUDA backend", "cuda", !cudaAvailable());
