"""Looking at stored runs: show, rescore, counterfactual branches, the web viewer."""
