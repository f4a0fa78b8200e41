import { Box, Text } from "ink";

export interface Tab {
	key: string;
	label: string;
}

export function TabBar({ tabs, active }: { tabs: readonly Tab[]; active: string }) {
	return (
		<Box gap={2}>
			{tabs.map((tab) => (
				<Text key={tab.key} bold={tab.key === active} inverse={tab.key === active}>
					{` ${tab.key} ${tab.label} `}
				</Text>
			))}
			<Text dimColor>r: refresh q: quit</Text>
		</Box>
	);
}
