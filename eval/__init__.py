"""Evaluation: test lists, metrics, speech recognisers and speaker encoders, runs and their
paired comparison (`echovox eval make_list | run | compare`).

    from echovox.eval.testlist import ListSpec, build_test_list, synthetic_utterances
    from echovox.eval.run import RunOptions, run_evaluation
    from echovox.eval.compare import compare_results, load_results

Modules: testlist (building and reading lists), metrics (word errors, speaker identification),
asr and speaker (the backends), run (synthesise and score a list), report (aggregates and the
markdown table), compare (two runs paired item by item), cli (the commands).
"""
